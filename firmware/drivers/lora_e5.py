"""Seeed LoRa-E5 / Wio-E5 LoRaWAN modem (STM32WLE5) over its AT command UART (9600 baud, 8N1).

From Seeed's "LoRa-E5 AT Command Specification V1.0" (files.seeedstudio.com/products/317990687/res/
LoRa-E5 AT Command Specification_V1.0 .pdf); the command set is RisingHF's (PS01509 "LoRaWAN AT
Command Specification"). A command is `AT+CMD[=args]` ended by CR LF; every answer line starts with
`+CMD: `. The dialogue used here:
    AT                          +AT: OK
    AT+ID=DevEui                +ID: DevEui, 2C:F7:F1:20:32:30:84:63
    AT+MODE=LWOTAA              +MODE: LWOTAA
    AT+KEY=APPKEY,<32 hex>      +KEY: APPKEY <32 hex>
    AT+DR=EU868 / AT+DR=5       +DR: EU868 / +DR: DR5 ...
    AT+DR                       +DR: DR5 / +DR: EU868 DR5 SF7 BW125K
    AT+ADR=ON|OFF               +ADR: ON|OFF
    AT+PORT=1                   +PORT: 1
    AT+JOIN                     +JOIN: Start, +JOIN: NORMAL, then +JOIN: Network joined,
                                +JOIN: NetID 000013 DevAddr 26:0B:5A:7C, +JOIN: Done;
                                or +JOIN: Join failed, +JOIN: Done; or +JOIN: Joined already
    AT+CMSGHEX="<hex>"          +CMSGHEX: Start, +CMSGHEX: Wait ACK, [+CMSGHEX: ACK Received,
                                +CMSGHEX: RXWIN1, RSSI -106, SNR 4.0], +CMSGHEX: Done
    AT+MSGHEX="<hex>"           +MSGHEX: Start, +MSGHEX: Done (unconfirmed: no ACK)
    AT+MSGHEX                   the same without payload (an empty uplink, e.g. to carry a MAC command)
    AT+LW=DTR                   +LW: DTR  (a DeviceTimeReq rides on the next uplink)
    AT+RTC                      +RTC: 2026-12-06 04:30:00  (the modem's clock, UTC)
Errors: `+CMD: ERROR(-n)` (-1 parameter invalid, -10 command unknown, -11 wrong format, -12 not
available in this mode, -20 too many parameters, -21 too long, -22 end symbol timeout, -23 invalid
character); for messages also `Please join network first`, `No band in <n>ms` (duty cycle: no channel
free for n ms), `Length error <n>` (payload over the data rate's maximum), `LoRaWAN modem is busy`.

The network's time: LoRaWAN 1.0.3 section 5.9, DeviceTimeReq/DeviceTimeAns: the device asks in an
uplink, the network answers in that uplink's receive window with the GPS time (seconds since
1980-01-06 00:00:00 UTC, no leap seconds) at the end of the uplink, and the modem sets its clock from it.
The Seeed specification lists AT+LW=DTR and AT+RTC; what was not confirmed from it and is assumed here:
AT+RTC answers "+RTC: YYYY-MM-DD hh:mm:ss" (perhaps with ".mmm"), UTC (the form public LoRa-E5 code
parses), and the module's clock starts from a default at power-up (2020 seen in public code) until a
DeviceTimeAns sets it: a year before 2024 is read as no time (rtc() gives None).

The driver owns a line buffer and a command buffer, both allocated once; it never sleeps blocking
(it polls the UART, opened with timeout=0, between asyncio sleeps).
"""
import asyncio

from micropython import const

_LINE = const(128)
_RX = const(64)  # bytes pulled from the UART per readinto
_CMD = const(480)  # AT+CMSGHEX="<2 x 222 hex digits>"\r\n
_POLL_MS = const(10)
_HEX = b"0123456789ABCDEF"


class LoRaE5Error(Exception):
    """The modem answered with an error; `code` is the n of ERROR(-n) when it gave one, else 0."""

    def __init__(self, message, code=0):
        super().__init__(message)
        self.code = code


class NotJoined(LoRaE5Error):
    """A message was refused: the modem has no network session (join again)."""


class Busy(LoRaE5Error):
    """No channel is free yet (duty cycle) or the modem is busy: try again after `wait_ms`."""

    def __init__(self, message, wait_ms):
        super().__init__(message)
        self.wait_ms = wait_ms


class ModemTimeout(LoRaE5Error):
    """The modem did not finish answering in time (unplugged, or powered off)."""


def _sleep_ms(ms):
    return asyncio.sleep_ms(ms) if hasattr(asyncio, "sleep_ms") else asyncio.sleep(ms / 1000)


def _ticks():
    import time

    return time.ticks_ms()


def _elapsed(t0):
    import time

    return time.ticks_diff(time.ticks_ms(), t0)


def _error_code(line):
    i = line.find("ERROR(")
    if i < 0:
        return None
    try:
        return int(line[i + 6:line.index(")", i)])
    except ValueError:
        return 0


class LoRaE5:
    def __init__(self, uart):
        self.uart = uart
        self._line = bytearray(_LINE)
        self._n = 0
        self._cmd = bytearray(_CMD)
        self._rx = bytearray(_RX)
        self._rxi = 0  # next byte of _rx to read
        self._rxn = 0  # bytes in _rx
        self.rssi = None  # of the last downlink (ACK), dBm
        self.snr = None
        self.window = None  # 1 or 2: the receive window the last downlink came in

    # -- line I/O ---------------------------------------------------------------------------------
    def _drain(self):
        """Forget whatever the modem said before the next command (late lines of the last one)."""
        while self.uart.any():
            if not self.uart.readinto(self._rx):
                break
        self._rxi = self._rxn = 0
        self._n = 0

    async def _readline(self, timeout_ms):
        """The next answer line (str, without CR LF), or ModemTimeout. Reads the UART in chunks into
        a buffer kept between calls (a chunk may hold the start of the next line)."""
        t0 = _ticks()
        rx = self._rx
        line = self._line
        while True:
            if self._rxi >= self._rxn:
                self._rxi = 0
                self._rxn = (self.uart.readinto(rx) or 0) if self.uart.any() else 0
            while self._rxi < self._rxn:
                b = rx[self._rxi]
                self._rxi += 1
                if b == 0x0A:
                    n = self._n
                    self._n = 0
                    if n and line[n - 1] == 0x0D:
                        n -= 1
                    if n:
                        return bytes(line[:n]).decode()
                elif self._n < _LINE:
                    line[self._n] = b
                    self._n += 1
            if self._rxn:
                continue  # the chunk is used up: the UART may hold more
            if _elapsed(t0) > timeout_ms:
                raise ModemTimeout("LoRa-E5: no answer in %d ms" % timeout_ms)
            await _sleep_ms(_POLL_MS)

    async def command(self, cmd, timeout_ms=1000):
        """Send `cmd` (str without AT+ prefix handling: the whole command) and return the first answer
        line of its own (+NAME: ...); LoRaE5Error on ERROR(-n)."""
        self._drain()
        self.uart.write(cmd)
        self.uart.write(b"\r\n")
        name = "+" + (cmd[3:].split("=")[0] if cmd.startswith("AT+") else "AT") + ":"
        while True:
            line = await self._readline(timeout_ms)
            if not line.startswith(name):
                continue  # an unsolicited line (e.g. +INFO: Input timeout)
            code = _error_code(line)
            if code is not None:
                raise LoRaE5Error("%s -> %s" % (cmd.split(",")[0], line), code)
            return line[len(name):].strip()

    # -- set-up -----------------------------------------------------------------------------------
    async def check(self):
        """True if the modem answers AT with OK."""
        return await self.command("AT") == "OK"

    async def dev_eui(self):
        """The modem's DevEUI as 16 upper-case hex digits."""
        ans = await self.command("AT+ID=DevEui")  # "DevEui, 2C:F7:F1:20:32:30:84:63"
        return ans.split(",")[-1].strip().replace(":", "").upper()

    async def set(self, name, value, timeout_ms=1000):
        """AT+NAME=value; returns the modem's echo of the setting."""
        return await self.command("AT+%s=%s" % (name, value), timeout_ms)

    async def data_rate(self):
        """The data rate in use (0..15), from AT+DR ("DR5" or "EU868 DR5 SF7 BW125K")."""
        ans = await self.command("AT+DR")
        i = ans.find("DR")
        while i >= 0:
            j = i + 2
            while j < len(ans) and ans[j].isdigit():
                j += 1
            if j > i + 2:
                return int(ans[i + 2:j])
            i = ans.find("DR", i + 2)
        raise LoRaE5Error("AT+DR: unexpected answer %r" % ans)

    # -- network ----------------------------------------------------------------------------------
    async def join(self, timeout_ms=30000):
        """OTAA join: True when joined (or already joined), False when the join failed."""
        self._drain()
        self.uart.write(b"AT+JOIN\r\n")
        joined = False
        while True:
            line = await self._readline(timeout_ms)
            if not line.startswith("+JOIN:"):
                continue
            body = line[6:].strip()
            code = _error_code(body)
            if code is not None:
                raise LoRaE5Error("AT+JOIN -> " + line, code)
            if body == "Network joined" or body == "Joined already":
                joined = True
                if body == "Joined already":
                    return True
            elif body.startswith("LoRaWAN modem is busy"):
                raise Busy("AT+JOIN -> " + line, 5000)
            elif body == "Done":
                return joined

    async def request_time(self):
        """AT+LW=DTR: a DeviceTimeReq rides on the next uplink (LoRaWAN 1.0.3 5.9)."""
        return await self.command("AT+LW=DTR")

    async def rtc(self):
        """The modem's clock (AT+RTC) in Unix seconds UTC, or None while the network has not set it."""
        from drivers.utc import rtc_unix

        return rtc_unix(await self.command("AT+RTC"))

    def _hex_command(self, confirmed, payload):
        c = self._cmd
        if not payload:  # an empty uplink: the command without payload
            head = b"AT+CMSGHEX\r\n" if confirmed else b"AT+MSGHEX\r\n"
            c[:len(head)] = head
            return memoryview(c)[:len(head)]
        head = b'AT+CMSGHEX="' if confirmed else b'AT+MSGHEX="'
        n = len(head)
        c[:n] = head
        for b in payload:
            c[n] = _HEX[b >> 4]
            c[n + 1] = _HEX[b & 15]
            n += 2
        c[n] = 0x22  # closing quote
        c[n + 1] = 0x0D
        c[n + 2] = 0x0A
        return memoryview(c)[:n + 3]

    async def send(self, payload, confirmed=True, timeout_ms=60000):
        """Send `payload` (bytes-like) on the port set with AT+PORT. Returns True when the network
        acknowledged it (confirmed) or it went out (unconfirmed); False when no ACK came back.
        NotJoined, Busy, LoRaE5Error (length or parameter errors), ModemTimeout otherwise."""
        if 2 * len(payload) + 15 > _CMD:
            raise LoRaE5Error("payload of %d bytes over the command buffer" % len(payload))
        self._drain()
        self.uart.write(self._hex_command(confirmed, payload))
        name = "+CMSGHEX:" if confirmed else "+MSGHEX:"
        acked = False
        self.rssi = self.snr = self.window = None
        while True:
            line = await self._readline(timeout_ms)
            if not line.startswith(name):
                continue
            body = line[len(name):].strip()
            code = _error_code(body)
            if code is not None:
                raise LoRaE5Error(name[1:-1] + " -> " + body, code)
            if body == "ACK Received":
                acked = True
            elif body.startswith("RXWIN"):  # "RXWIN1, RSSI -106, SNR 4.0"
                parts = body.replace(",", " ").split()
                try:
                    self.window = int(parts[0][5:])
                    self.rssi = int(parts[2])
                    self.snr = float(parts[4])
                except (IndexError, ValueError):
                    pass
            elif body.startswith("Please join network first"):
                raise NotJoined(name[1:-1] + " -> " + body)
            elif body.startswith("No band in"):  # "No band in 13469ms"
                digits = body[10:].strip().rstrip("ms")
                raise Busy(name[1:-1] + " -> " + body, int(digits) if digits.isdigit() else 1000)
            elif body.startswith("LoRaWAN modem is busy"):
                raise Busy(name[1:-1] + " -> " + body, 1000)
            elif body.startswith("Length error"):
                raise LoRaE5Error(name[1:-1] + " -> " + body)
            elif body == "Done":
                return acked or not confirmed
