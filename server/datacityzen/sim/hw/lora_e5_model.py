"""Simulated Seeed LoRa-E5 LoRaWAN modem on a UART, speaking its AT commands (LoRa-E5 AT Command
Specification V1.0; the dialogue is summarised in firmware/drivers/lora_e5.py).

The radio side is a TCP connection to the simulator's network server (sim/network_server.py), one JSON
object per line: the model sends {"op": "up", "dev_eui", "dev_addr", "fcnt", "fport", "confirmed",
"dr", "hex"} for each uplink it puts on air, and for a confirmed one waits for {"ack": true|false,
"rssi", "snr"}, as the modem waits for the ACK in its receive windows. No answer before
`ack_timeout_s`: no ACK ("+CMSGHEX: Done" without "ACK Received", as when the ACK is lost).

The clock: AT+LW=DTR makes the next uplink carry a DeviceTimeReq (LoRaWAN 1.0.3 5.9; the frame gets
"mac": ["DeviceTimeReq"]); the network server answers {"device_time": <GPS seconds>} (with the ACK of a
confirmed uplink, or alone for an unconfirmed one) and the modem sets its clock from it; AT+RTC answers
"+RTC: YYYY-MM-DD hh:mm:ss" (UTC), counting from 2020-01-01 at power-up until then. No answer (fault
"no_device_time", or a network server that ignores it): the clock stays at its default.

Config, the "lorawan" entry of sim_hw.json: {"uart": 1, "ns": [host, port], "dev_eui": "2CF7...",
"join_s": 0.3 (time from JOIN to its answer), "ack_timeout_s": 3.0, "faults": {"join_fail": N (the
first N joins fail), "no_band_every": N (every Nth message is refused with "No band in 1200ms")}}.
During an outage (outage.py) nothing reaches a gateway: joins fail and uplinks get no ACK.
Timing is compressed: a join or an ACK takes `join_s` or the network server's answer, not the
seconds of the real receive windows.
"""
import json
import socket
import time

import outage

_GPS_EPOCH = 315964800  # 1980-01-06 00:00:00 UTC in Unix seconds
_GPS_UTC = 18  # GPS - UTC in seconds since 2017-01-01 (IERS Bulletin C: no leap second since)
_RTC_DEFAULT = 1577836800  # 2020-01-01 00:00:00 UTC: the module's clock at power-up


def _real_time():
    return time.real_time() if hasattr(time, "real_time") else time.time()

_MAX_OF_DR = (51, 51, 51, 115, 222, 222, 222, 222)
_SF_OF_DR = (12, 11, 10, 9, 8, 7, 7, 0)


def _now_ms():
    return time.ticks_ms()


def _colons(hexstr):
    return ":".join(hexstr[i:i + 2] for i in range(0, len(hexstr), 2))


class Model:
    def __init__(self, env, cfg):
        faults = cfg.get("faults") or {}
        self.ns = cfg.get("ns")
        self.dev_eui = str(cfg.get("dev_eui", "2CF7F12032308463")).upper()
        self.app_eui = "8000000000000006"
        self.join_ms = int(float(cfg.get("join_s", 0.3)) * 1000)
        self.ack_ms = int(float(cfg.get("ack_timeout_s", 3.0)) * 1000)
        self.join_fail = int(faults.get("join_fail", 0))
        self.no_band_every = int(faults.get("no_band_every", 0))
        self.mode = "LWOTAA"
        self.dr = 0
        self.adr = True
        self.port = 8
        self.joined = False
        self.dev_addr = None
        self.fcnt = 0
        self.msgs = 0
        self.joins = 0
        self._in = bytearray()
        self._out = bytearray()
        self._pos = 0  # bytes of _out already read by the host
        self._timed = []  # [due ms, line] emitted when due
        self._pending = None  # (name, due ms) while waiting for the network server's answer
        self._sock = None
        self._rx = b""
        self.no_device_time = bool(faults.get("no_device_time"))
        self.dtr = False  # a DeviceTimeReq waits for the next uplink
        self._rtc_off = _RTC_DEFAULT - _real_time()  # the module's clock minus the real time

    # -- UART side ----------------------------------------------------------------------------
    def any(self):
        self._tick()
        return len(self._out) - self._pos

    def read_into(self, buf, n):
        self._tick()
        n = min(n, len(self._out) - self._pos, len(buf))
        buf[:n] = memoryview(self._out)[self._pos:self._pos + n]
        self._pos += n
        if self._pos >= len(self._out):  # all read: start over without copying
            self._out = bytearray()
            self._pos = 0
        return n

    def write(self, data):
        self._in.extend(data)
        while True:
            i = self._in.find(b"\n")
            if i < 0:
                return
            line = bytes(self._in[:i]).strip()
            self._in = self._in[i + 1:]
            if line:
                self._command(line.decode())

    def _say(self, line, delay_ms=0):
        if delay_ms:
            self._timed.append([time.ticks_add(_now_ms(), delay_ms), line])
        else:
            self._out.extend(line.encode() + b"\r\n")

    def _tick(self):
        now = _now_ms()
        if self._timed:
            keep = []
            for due, line in self._timed:
                if time.ticks_diff(now, due) >= 0:
                    self._say(line)
                else:
                    keep.append([due, line])
            self._timed = keep
        if self._pending is not None:
            name, due = self._pending
            answer = self._poll()
            if answer is not None:
                self._pending = None
                if answer.get("device_time") is not None:  # DeviceTimeAns: GPS time at the uplink's end
                    self._rtc_off = float(answer["device_time"]) + _GPS_EPOCH - _GPS_UTC - _real_time()
                if answer.get("ack"):
                    self._say(name + ": ACK Received")
                    self._say("%s: RXWIN1, RSSI %d, SNR %.1f" % (name, answer.get("rssi", -100), answer.get("snr", 5.0)))
                self._say(name + ": Done")
            elif time.ticks_diff(now, due) >= 0:
                self._pending = None
                self._say(name + ": Done")  # no ACK in the receive windows

    # -- commands -----------------------------------------------------------------------------
    def _command(self, cmd):
        up = cmd.upper()
        if up == "AT":
            return self._say("+AT: OK")
        if not up.startswith("AT+"):
            return  # line noise: the modem ignores it
        name, _, arg = cmd[3:].partition("=")
        name = name.upper()
        tag = "+" + name
        handler = getattr(self, "_at_" + name.lower(), None)
        if handler is None:
            return self._say(tag + ": ERROR(-10)")  # command unknown
        handler(tag, arg, "=" in cmd)

    def _at_id(self, tag, arg, setting):
        what, _, value = arg.partition(",")
        what = what.strip().lower()
        if setting and what == "appeui" and value:
            v = value.strip().strip('"').replace(":", "").replace(" ", "")
            if len(v) != 16:
                return self._say(tag + ": ERROR(-1)")
            self.app_eui = v.upper()
        if not setting or what in ("deveui", "appeui", "devaddr"):
            if not setting or what == "devaddr":
                self._say(tag + ": DevAddr, " + _colons(self.dev_addr or "00000000"))
            if not setting or what == "deveui":
                self._say(tag + ": DevEui, " + _colons(self.dev_eui))
            if not setting or what == "appeui":
                self._say(tag + ": AppEui, " + _colons(self.app_eui))
            return None
        return self._say(tag + ": ERROR(-1)")

    def _at_mode(self, tag, arg, setting):
        if setting:
            if arg.upper() not in ("LWOTAA", "LWABP", "TEST"):
                return self._say(tag + ": ERROR(-1)")
            self.mode = arg.upper()
            self.joined = False
        return self._say(tag + ": " + self.mode)

    def _at_key(self, tag, arg, setting):
        what, _, key = arg.partition(",")
        key = key.strip().strip('"').replace(" ", "")
        ok = len(key) == 32
        for c in key:
            ok = ok and c in "0123456789abcdefABCDEF"
        if not setting or what.strip().upper() not in ("APPKEY", "NWKSKEY", "APPSKEY") or not ok:
            return self._say(tag + ": ERROR(-1)")
        return self._say("%s: %s %s" % (tag, what.strip().upper(), key.upper()))

    def _at_dr(self, tag, arg, setting):
        if not setting:
            self._say("%s: DR%d" % (tag, self.dr))
            return self._say("%s: EU868 DR%d  SF%d BW125K" % (tag, self.dr, _SF_OF_DR[self.dr]))
        a = arg.strip().upper()
        if a == "EU868":
            return self._say(tag + ": EU868")
        if a.startswith("DR"):
            a = a[2:]
        if not a.isdigit() or not 0 <= int(a) <= 5:
            return self._say(tag + ": ERROR(-1)")
        self.dr = int(a)
        return self._say("%s: DR%d" % (tag, self.dr))

    def _at_adr(self, tag, arg, setting):
        if setting:
            if arg.strip().upper() not in ("ON", "OFF"):
                return self._say(tag + ": ERROR(-1)")
            self.adr = arg.strip().upper() == "ON"
        return self._say(tag + (": ON" if self.adr else ": OFF"))

    def _at_port(self, tag, arg, setting):
        if setting:
            a = arg.strip()
            if not a.isdigit() or not 1 <= int(a) <= 223:
                return self._say(tag + ": ERROR(-1)")
            self.port = int(a)
        return self._say("%s: %d" % (tag, self.port))

    def _at_join(self, tag, arg, setting):
        if self.mode != "LWOTAA":
            return self._say(tag + ": ERROR(-12)")  # not available in this mode
        if self.joined:
            return self._say(tag + ": Joined already")
        if self._pending is not None:
            return self._say(tag + ": LoRaWAN modem is busy")
        self.joins += 1
        self._say(tag + ": Start")
        self._say(tag + ": NORMAL")
        if self.join_fail > 0 or outage.active():
            self.join_fail = max(0, self.join_fail - 1)
            self._say(tag + ": Join failed", self.join_ms)
        else:
            self.joined = True
            self.fcnt = 0
            self.dev_addr = "260B%04X" % ((self.joins * 7919 + int(self.dev_eui[-4:], 16)) & 0xFFFF)
            self._say(tag + ": Network joined", self.join_ms)
            self._say("%s: NetID 000013 DevAddr %s" % (tag, _colons(self.dev_addr)), self.join_ms)
        self._say(tag + ": Done", self.join_ms)

    def _at_lw(self, tag, arg, setting):
        if setting and arg.strip().upper() == "DTR":
            self.dtr = True
            return self._say(tag + ": DTR")
        return self._say(tag + ": ERROR(-1)")  # other LW subcommands are not modelled

    def _at_rtc(self, tag, arg, setting):
        if setting:
            return self._say(tag + ": ERROR(-1)")
        t = time.gmtime(int(_real_time() + self._rtc_off))
        return self._say("%s: %04d-%02d-%02d %02d:%02d:%02d" % (tag, t[0], t[1], t[2], t[3], t[4], t[5]))

    def _at_msghex(self, tag, arg, setting):
        self._message(tag, arg, False)

    def _at_cmsghex(self, tag, arg, setting):
        self._message(tag, arg, True)

    def _message(self, tag, arg, confirmed):
        hexstr = arg.strip().strip('"').replace(" ", "")
        ok = len(hexstr) % 2 == 0
        for c in hexstr:
            ok = ok and c in "0123456789abcdefABCDEF"
        if not ok:
            return self._say(tag + ": ERROR(-1)")
        if self._pending is not None:
            return self._say(tag + ": LoRaWAN modem is busy")
        if not self.joined:
            return self._say(tag + ": Please join network first")
        if len(hexstr) // 2 > _MAX_OF_DR[self.dr]:
            return self._say("%s: Length error %d" % (tag, _MAX_OF_DR[self.dr]))
        self.msgs += 1
        if self.no_band_every and self.msgs % self.no_band_every == 0:
            return self._say(tag + ": No band in 1200ms")
        self._say(tag + ": Start")
        if confirmed:
            self._say(tag + ": Wait ACK")
        self.fcnt += 1
        sent = False
        dtr, self.dtr = self.dtr and not self.no_device_time, False
        if not outage.active():  # during an outage no gateway hears it
            frame = {"op": "up", "dev_eui": self.dev_eui, "dev_addr": self.dev_addr,
                     "fcnt": self.fcnt, "fport": self.port, "confirmed": confirmed,
                     "dr": self.dr, "hex": hexstr.upper()}
            if dtr:
                frame["mac"] = ["DeviceTimeReq"]
            sent = self._send(frame)
        if confirmed or (dtr and sent):  # the modem listens in the receive windows for the answer
            self._pending = (tag, time.ticks_add(_now_ms(), self.ack_ms if sent else min(self.ack_ms, 500)))
        else:
            self._say(tag + ": Done")

    # -- the network server -------------------------------------------------------------------
    def _send(self, obj):
        if not self.ns:
            return False
        try:
            if self._sock is None:
                s = socket.socket()
                s.connect(socket.getaddrinfo(self.ns[0], int(self.ns[1]))[0][-1])
                s.setblocking(False)
                self._sock = s
            data = (json.dumps(obj) + "\n").encode()
            while data:
                try:
                    n = self._sock.send(data)
                except OSError as e:
                    if e.args and e.args[0] == 11:  # EAGAIN: the socket buffer is full
                        time.sleep_ms(1) if hasattr(time, "sleep_ms") else time.sleep(0.001)
                        continue
                    raise
                data = data[n:]
            return True
        except OSError:
            self._close()
            return False

    def _poll(self):
        if self._sock is None:
            return None
        try:
            got = self._sock.recv(512)
        except OSError:
            return None  # nothing yet (EAGAIN)
        if not got:
            self._close()
            return None
        self._rx += got
        i = self._rx.find(b"\n")
        if i < 0:
            return None
        line = self._rx[:i]
        self._rx = self._rx[i + 1:]
        try:
            return json.loads(line)
        except ValueError:
            return None

    def _close(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = None
        self._rx = b""
