"""The AT-command dialogue with a cellular modem on a UART (ITU-T V.250 syntax, 3GPP TS 27.007 results).

A command is "AT<cmd>\\r"; the modem answers with information lines and ends with a final result:
"OK", "ERROR" or "+CME ERROR: <err>" (numeric after AT+CMEE=1, 3GPP TS 27.007 section 9.1), or a
command's own final line (SIMCom's "SEND OK", "CONNECT OK", "SHUT OK", ...). Between commands the modem
sends unsolicited result codes (URCs: "CLOSED", "+CIPRXGET: 1", ...): the modem class lists their
prefixes in `urcs` and gets each in `on_urc(line)`, whether it arrives during a command or between.

The parser is non-blocking: it polls `uart.any()` and sleeps with asyncio between polls, so the other
tasks run while a command waits (a GPRS attach takes up to 85 s). Received bytes go into one buffer
allocated at start-up; a line is copied out only when complete; binary data (a TCP read) is copied
straight from that buffer into the caller's. One command at a time (an asyncio.Lock).

ModemBase is what the SIMCom modems share (start-up, signal quality, registration, the network's time,
chunked TCP writes); drivers/sim800.py and drivers/sim7080g.py add their TCP/IP command sets.

The network's time: the ESP32's own IP stack has no route through the modem, so NTP cannot set its
clock; the cellular network tells the time instead (NITZ). start() sends SIMCom's AT+CLTS=1 ("get local
timestamp": the modem sets its real-time clock from the network's time when it registers; SIM800 Series
AT Command Manual V1.09, AT+CLTS; SIM7070_SIM7080_SIM7090 Series AT Command Manual, AT+CLTS), and
network_time() reads that clock with AT+CCLK? (3GPP TS 27.007 section 8.15): +CCLK: "yy/MM/dd,hh:mm:ss+zz",
local time with zz the offset from UTC in quarters of an hour (-96..+96). A modem the network gave no time
keeps its power-up default (SIM800: 2004, SIM7080G: 1980): a clock before 2024 is no time at all.
"""
import asyncio
import time

from micropython import const


_POLL_MS = const(10)
_SETTLE_MS = const(100)
_SETTLE_MAX_MS = const(2000)
_OK = (b"OK",)
_NONE = ()

# Network registration status <stat>, 3GPP TS 27.007 section 7.2 (+CREG; +CGREG 10.1.20 and +CEREG
# 10.1.22 use the same values).
REG_NAMES = ("not_searching", "home", "searching", "denied", "unknown", "roaming")


# Typed errors, like the sensors' in drivers/errors.py (kept here so kits without a modem do not load them).

class ModemError(Exception):
    """An AT-command modem answered ERROR (or a result the command does not expect): `command` is
    the command sent, `result` the final result line."""

    def __init__(self, command, result=""):
        super().__init__(command, result)
        self.command = command
        self.result = result


class ModemCMEError(ModemError):
    """+CME ERROR: <err>, an error of the mobile equipment; `code` per 3GPP TS 27.007 section 9.2
    (e.g. 10 SIM not inserted, 30 no network service, 148 unspecified GPRS error)."""

    def __init__(self, command, code):
        super().__init__(command, "+CME ERROR: %d" % code)
        self.code = code


class ModemTimeout(ModemError):
    """No final result in time: the modem is off, asleep, on another baud rate or wedged."""


class ModemNotRegistered(ModemError):
    """The modem is not registered on the network: `stat` per 3GPP TS 27.007 section 7.2 (+CREG)
    and 10.1.22 (+CEREG): 0 not searching, 2 searching, 3 registration denied, 4 unknown."""

    def __init__(self, command, stat):
        super().__init__(command, "stat %d" % stat)
        self.stat = stat


class ModemClosed(ModemError):
    """The modem's TCP connection is closed (the peer or the network dropped it)."""


def csq_dbm(rssi):
    """AT+CSQ <rssi> to dBm, 3GPP TS 27.007 section 8.5: 0 is -113 dBm or less, 1 is -111 dBm,
    2..30 are -109..-53 dBm in 2 dB steps, 31 is -51 dBm or more; 99 (not known) gives None."""
    if rssi is None or rssi < 0 or rssi > 31:
        return None
    return -113 + 2 * rssi


def _fields(line, start):
    """The comma-separated integer fields of `line` after byte `start` (quoted ones skipped as None)."""
    out = []
    for f in line[start:].split(b","):
        f = f.strip()
        try:
            out.append(int(f))
        except ValueError:
            out.append(None)
    return out


class ATModem:
    def __init__(self, uart, buf_size=512):
        self.uart = uart
        self._buf = bytearray(buf_size)
        self._mv = memoryview(self._buf)
        self._s = 0  # unread bytes are _buf[_s:_e]
        self._e = 0
        self._lock = asyncio.Lock()
        self.urcs = _NONE  # prefixes (bytes) of the URCs to hand to on_urc
        self.on_urc = None
        self.commands = 0  # commands sent (for tests and figures)
        self._stale = False  # an exchange was cut short: its answer may still be coming

    # -- bytes ----------------------------------------------------------------------------------
    def _fill(self):
        """Move what the UART holds into the buffer; the number of bytes read."""
        s, e = self._s, self._e
        if s:
            if e > s:
                self._mv[0:e - s] = self._mv[s:e]
            self._e = e = e - s
            self._s = 0
        if e == len(self._buf):
            # a line longer than the buffer (line noise, a modem in another mode): drop it
            self._s = self._e = e = 0
        if not self.uart.any():
            return 0
        got = self.uart.readinto(self._mv[e:]) or 0
        self._e = e + got
        return got

    def _skip_eol(self):
        buf, s, e = self._buf, self._s, self._e
        while s < e and (buf[s] == 13 or buf[s] == 10):
            s += 1
        self._s = s
        return s < e

    def _line(self, prompt=False):
        """The next complete line (bytes without CR LF), b">" for a data prompt when `prompt`, or None."""
        if not self._skip_eol():
            return None
        buf, s, e = self._buf, self._s, self._e
        if prompt and buf[s] == 62:  # ">": the modem waits for data (no line end follows)
            self._s = s + 2 if s + 1 < e and buf[s + 1] == 32 else s + 1
            return b">"
        i = buf.find(b"\r\n", s, e)
        if i < 0:
            i = buf.find(b"\r", s, e)  # an echoed command ends with CR alone
            if i < 0 or i + 1 >= e:
                return None
        self._s = i + 1
        return bytes(self._mv[s:i])

    def _urc(self, line):
        for p in self.urcs:
            if line.startswith(p):
                if self.on_urc is not None:
                    self.on_urc(line)
                return True
        return False

    def _send(self, cmd):
        self.commands += 1
        u = self.uart
        u.write(b"AT")
        u.write(cmd)
        u.write(b"\r")

    async def _next(self, cmd, t0, timeout_ms, prompt=False):
        """The next line that is not a URC; ModemTimeout past the deadline."""
        while True:
            line = self._line(prompt)
            if line is None:
                if not self._fill():
                    if time.ticks_diff(time.ticks_ms(), t0) > timeout_ms:
                        raise ModemTimeout(cmd, "no answer in %d ms" % timeout_ms)
                    await asyncio.sleep_ms(_POLL_MS)
                continue
            if line.startswith(b"AT") or self._urc(line):  # an echo, or a URC
                continue
            return line

    @staticmethod
    def _check(cmd, line, fail):
        if line.startswith(b"+CME ERROR:"):
            try:
                code = int(line[11:])
            except ValueError:
                code = -1  # verbose error text (AT+CMEE=2)
            raise ModemCMEError(cmd, code)
        if line == b"ERROR" or line in fail:
            raise ModemError(cmd, line.decode())

    async def _collect(self, cmd, timeout_ms, done, fail, first):
        info = []
        t0 = time.ticks_ms()
        while True:
            line = await self._next(cmd, t0, timeout_ms)
            if line in done:
                return info
            self._check(cmd, line, fail)
            if first:
                return [line]
            info.append(line)

    # -- commands -------------------------------------------------------------------------------
    async def command(self, cmd, timeout_ms=5000, done=_OK, fail=_NONE, first=False, label=None):
        """Send "AT<cmd>\\r" (cmd: bytes or str); return its information lines (a list of bytes) once a
        line in `done` arrives (with `first`, the first line that is not a URC: AT+CIFSR has no OK).
        ModemCMEError on "+CME ERROR: <n>", ModemError on "ERROR" or a line in `fail`, ModemTimeout.
        Errors name the command by `label` when given: a command carrying a secret (the APN password)
        must not reach the logs."""
        return await self._exchange(self._command, cmd, timeout_ms, done, fail, first, label or cmd)

    async def _command(self, cmd, timeout_ms, done, fail, first, label):
        self._send(cmd)
        return await self._collect(label, timeout_ms, done, fail, first)

    async def query(self, cmd, prefix, timeout_ms=5000):
        """The integer fields of the information line starting with `prefix` (e.g. b"+CSQ: ")."""
        for line in await self.command(cmd, timeout_ms):
            if line.startswith(prefix):
                return _fields(line, len(prefix))
        raise ModemError(cmd, "no %s line" % prefix.decode())

    async def send_data(self, cmd, data, timeout_ms=10000, done=_OK, fail=_NONE):
        """A command that prompts for data with ">" (AT+CIPSEND=<n>, AT+CASEND=<cid>,<n>): send it,
        wait for the prompt, write `data`, wait for a line in `done`."""
        return await self._exchange(self._send_data, cmd, data, timeout_ms, done, fail)

    async def _send_data(self, cmd, data, timeout_ms, done, fail):
        self._send(cmd)
        t0 = time.ticks_ms()
        while True:
            line = await self._next(cmd, t0, timeout_ms, prompt=True)
            if line == b">":
                break
            self._check(cmd, line, fail)
        self.uart.write(data)
        return await self._collect(cmd, timeout_ms, done, fail, False)

    async def read_data(self, cmd, prefix, dest, inline, timeout_ms=5000):
        """A command whose answer is `prefix`<n>[,...] followed by n bytes of data, then OK: copy the
        data into `dest` (a bytearray or memoryview, at least n long) and return n.

        `inline`: the data follows the first field's comma on the same line (AT+CARECV: "+CARECV:
        <n>,<data>"); otherwise it follows the header line's CR LF (AT+CIPRXGET=2: "+CIPRXGET:
        2,<n>,<left>" CR LF <data>)."""
        return await self._exchange(self._read_data, cmd, prefix, dest, inline, timeout_ms)

    async def _read_data(self, cmd, prefix, dest, inline, timeout_ms):
        self._send(cmd)
        t0 = time.ticks_ms()
        n = 0
        while True:
            self._skip_eol()
            # (bounded by _e: the bytes past it are an older answer's, maybe the same header)
            if self._e - self._s >= len(prefix) and self._buf.find(prefix, self._s, self._s + len(prefix)) == self._s:
                n = await self._data(cmd, prefix, dest, inline, t0, timeout_ms)
                break
            line = self._line()
            if line is None:
                if not self._fill():
                    if time.ticks_diff(time.ticks_ms(), t0) > timeout_ms:
                        raise ModemTimeout(cmd, "no answer in %d ms" % timeout_ms)
                    await asyncio.sleep_ms(_POLL_MS)
                continue
            if line.startswith(b"AT") or self._urc(line):
                continue
            if line == b"OK":
                return 0
            self._check(cmd, line, _NONE)
        await self._collect(cmd, timeout_ms, _OK, _NONE, False)
        return n

    async def _data(self, cmd, prefix, dest, inline, t0, timeout_ms):
        buf = self._buf
        while True:  # the header: up to the first comma (inline) or the line end
            start = self._s + len(prefix)
            end = buf.find(b"\r\n", start, self._e)
            comma = buf.find(b",", start, self._e) if inline else -1
            if comma >= 0 and (end < 0 or comma < end):
                end = comma
                skip = 1
            else:
                skip = 2
            if end >= 0:
                break
            if not self._fill():
                if time.ticks_diff(time.ticks_ms(), t0) > timeout_ms:
                    raise ModemTimeout(cmd, "header cut short")
                await asyncio.sleep_ms(_POLL_MS)
        f = _fields(buf[start:end], 0)
        self._s = end + skip
        n = f[0] if f and f[0] else 0
        if inline and skip == 2:
            n = 0  # "+CARECV: 0": nothing to read
        if n > len(dest):
            raise ModemError(cmd, "%d bytes for a %d-byte buffer" % (n, len(dest)))
        got = 0
        while got < n:
            k = min(n - got, self._e - self._s)
            if k:
                dest[got:got + k] = self._mv[self._s:self._s + k]
                self._s += k
                got += k
            elif not self._fill():
                if time.ticks_diff(time.ticks_ms(), t0) > timeout_ms:
                    raise ModemTimeout(cmd, "data cut short (%d of %d bytes)" % (got, n))
                await asyncio.sleep_ms(_POLL_MS)
        return n

    async def _exchange(self, fn, *args):
        """One command at a time. An exchange that did not end with its final result (cancelled, or
        timed out: its answer may still come) leaves the stream unsure: the next one first lets the
        modem finish (_settle), so a late "OK" is not taken for its own."""
        async with self._lock:
            if self._stale:
                await self._settle()
            self._stale = True
            try:
                r = await fn(*args)
            except ModemError as e:
                if not isinstance(e, ModemTimeout):
                    self._stale = False  # ERROR / +CME ERROR: a final result, the exchange is over
                raise
            self._stale = False
            return r

    async def _settle(self):
        """Drop input (URCs still go to on_urc) until the modem has been quiet for _SETTLE_MS."""
        t0 = quiet = time.ticks_ms()
        while (time.ticks_diff(time.ticks_ms(), quiet) < _SETTLE_MS
               and time.ticks_diff(time.ticks_ms(), t0) < _SETTLE_MAX_MS):
            line = self._line()
            if line is not None:
                self._urc(line)
            elif self._fill():
                quiet = time.ticks_ms()
            else:
                await asyncio.sleep_ms(_POLL_MS)
        self._s = self._e = 0  # a partial line left is the tail of the old answer
        self._stale = False

    async def poll(self):
        """Take the URCs the modem sent since the last command; other lines (late answers, "RDY")
        are dropped. Call it often while idle. Returns at once while a command runs."""
        if self._lock.locked():
            return
        async with self._lock:
            while True:
                line = self._line()
                if line is None:
                    if not self._fill():
                        return
                    continue
                self._urc(line)


class ModemBase:
    """What the SIMCom modems share. A subclass sets `name`, `urcs`, `max_send` and implements
    registration(), bearer_up(apn, user, password), open(host, port), _send_chunk(mv),
    read_into(buf), close(), and handles its URCs in _on_urc(line) (setting `readable`/`closed`)."""

    name = "modem"
    urcs = _NONE
    max_send = 1024

    def __init__(self, at):
        self.at = at
        at.urcs = self.urcs
        at.on_urc = self._on_urc
        self.readable = False  # the modem holds received TCP data
        self.closed = True  # no TCP connection open

    def _on_urc(self, line):
        pass

    async def start(self):
        """Synchronise (AT, which also sets the baud rate of a modem that detects it), echo off,
        numeric +CME ERROR codes, and check the SIM is ready (+CPIN: READY; TS 27.007 8.3)."""
        for i in range(3):
            try:
                await self.at.command(b"", 1000)
                break
            except ModemTimeout:
                if i == 2:
                    raise
        await self.at.command(b"E0")
        await self.at.command(b"+CMEE=1")
        try:  # the network's time into the modem's clock (network_time); a modem without it: no time
            await self.at.command(b"+CLTS=1")
        except ModemError:
            pass
        for line in await self.at.command(b"+CPIN?"):
            if line.startswith(b"+CPIN:") and line[6:].strip() != b"READY":
                raise ModemError(b"+CPIN?", "SIM not ready: " + line[6:].strip().decode())

    async def signal(self):
        """Received signal strength in dBm from AT+CSQ (None when the modem does not know)."""
        f = await self.at.query(b"+CSQ", b"+CSQ: ")
        return csq_dbm(f[0])

    async def network_time(self):
        """The network's time (Unix seconds UTC) from the modem's clock (AT+CCLK?), or None while the
        network has given none. ModemError if the modem fails."""
        for line in await self.at.command(b"+CCLK?"):
            if line.startswith(b"+CCLK:"):
                from drivers.utc import cclk_unix

                return cclk_unix(line)
        return None

    async def _reg(self, cmd, prefix):
        f = await self.at.query(cmd, prefix)
        return f[1] if len(f) > 1 and f[1] is not None else 4

    async def poll(self):
        await self.at.poll()

    async def write(self, data):
        """Send `data` (bytes-like) on the open TCP connection, in chunks of at most max_send bytes."""
        mv = memoryview(data)
        i = 0
        while i < len(mv):
            if self.closed:
                raise ModemClosed(b"send", "connection closed")
            k = min(self.max_send, len(mv) - i)
            await self._send_chunk(mv[i:i + k])
            i += k
