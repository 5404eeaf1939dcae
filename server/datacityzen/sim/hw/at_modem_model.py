"""A simulated SIMCom modem on a UART, speaking the AT dialogue of its manual, whose TCP connections are
real sockets from this process (so MQTT through it reaches the real broker, or the runner's relay).

The byte stream is the UART's: the firmware writes commands ("AT...\\r", echoed until ATE0), the model
answers with CR LF framed lines and final results (OK, ERROR, "+CME ERROR: <n>" after AT+CMEE=1), a
">" prompt for data, and URCs. Subclasses (sim800_model.py, sim7080g_model.py) hold the command sets.

Network: the modem registers `register_s` seconds after power-up (stat 2 "searching" until then).
During the shared outage (outage.py) it loses registration (stat 2), its bearer goes down and an open
connection drops with the modem's URC ("CLOSED" / "+CASTATE: 0,0"); registration comes back
`register_s` after the outage.

Clock: AT+CLTS=1 (SIMCom: take the network's time, NITZ, when registered) and AT+CCLK? (3GPP TS 27.007
8.15, "yy/MM/dd,hh:mm:ss+zz", local time, zz in quarters of an hour): once CLTS is on and the modem is
registered, its clock is the host's clock (the simulated network's time) in the zone "tz_q" (default +4,
Paris in winter); until then, or with "nitz": false (a network that sends no time), it counts from the
modem's power-up default (the subclass's DEFAULT_RTC: SIM800 2004-01-01, SIM7080G 1980-01-06).

Options: sim_hw.json "modem": {
  "registration": "denied" | "searching"   never registers (CREG/CEREG stat 3, or stat 2 forever),
  "cme": {"CIICR": 148}                      that command (name after "AT+") fails with +CME ERROR: n,
  "silent": true                             the modem never answers (powered off, wrong baud rate),
  "sim": "absent"                            AT+CPIN? gives +CME ERROR: 10 (SIM not inserted),
  "drop_after_sends": N                      the network drops the connection after N data sends,
  "csq": 18, "register_s": 0.3, "nitz": true, "tz_q": 4}
CME error codes: 3GPP TS 27.007 section 9.2.
"""
import socket
import time

try:
    import select
except ImportError:  # pragma: no cover
    select = None

import machine
import outage

_EAGAIN = 11  # errno EAGAIN on Linux
STAT_NOT_SEARCHING = 0
STAT_HOME = 1
STAT_SEARCHING = 2
STAT_DENIED = 3


def _ms():
    if hasattr(time, "ticks_ms"):
        return time.ticks_ms()
    return int(time.monotonic() * 1000)


def _since(t0):
    if hasattr(time, "ticks_diff"):
        return time.ticks_diff(time.ticks_ms(), t0)
    return _ms() - t0


def _real_time():
    return time.real_time() if hasattr(time, "real_time") else time.time()


def _days(y, mo, d):
    if mo <= 2:
        y -= 1
        mo += 12
    return 365 * y + y // 4 - y // 100 + y // 400 + (153 * (mo - 3) + 2) // 5 + d - 719469


class ATModemModel:
    DEFAULT_RTC = (2004, 1, 1)  # the clock at power-up, until the network sets it

    def __init__(self, env, cfg):
        opts = dict(machine.config().get("modem") or {})
        opts.update(cfg.get("faults") or {})
        self.opts = opts
        self.echo = True
        self.cmee = 0
        self._out = bytearray()  # toward the host, read from _o on
        self._o = 0
        self._rbuf = bytearray(256)  # one socket read (preallocated: the device's heap is small)
        self._line = bytearray()
        self._data_left = 0  # bytes of data still expected after a ">" prompt
        self._data = bytearray(1460)  # the data of one send (both modems take at most 1460 bytes)
        self._dn = 0
        self._data_done = None
        self.sock = None
        self._poll = None
        self.rx = bytearray()  # data received from the network, waiting for the host to read it
        self.sends = 0
        self.commands = 0  # command lines received
        self._t0 = _ms()
        self._lost = False  # registration lost in an outage, until it comes back
        self._back_at = None
        self.bearer = False
        self.clts = 0
        self._nitz = False  # the network gave its time: the clock is the network's
        self._power_up = _real_time()

    # -- the UART side ----------------------------------------------------------------------------
    def any(self):
        self._pump()
        return len(self._out) - self._o

    def read_into(self, buf, n):
        self._pump()
        o = self._o
        n = min(n, len(self._out) - o)
        buf[:n] = memoryview(self._out)[o:o + n]
        self._o = o + n
        if self._o == len(self._out):
            self._out = bytearray()  # all read: start afresh (small, no large block to find)
            self._o = 0
        return n

    def write(self, data):
        if self.opts.get("silent"):
            return
        mv = memoryview(data)
        i = 0
        while i < len(mv):
            if self._data_left:  # data after a ">" prompt: taken in one piece
                k = min(self._data_left, len(mv) - i)
                self._data[self._dn:self._dn + k] = mv[i:i + k]
                self._dn += k
                self._data_left -= k
                i += k
                if not self._data_left:
                    done, self._data_done = self._data_done, None
                    done(memoryview(self._data)[:self._dn])
                continue
            b = mv[i]
            i += 1
            if b == 13:
                line = bytes(self._line).decode()
                self._line = bytearray()
                if self.echo:
                    self._out += line.encode() + b"\r"
                self._command(line.strip())
            elif b != 10:
                self._line.append(b)

    def say(self, line):
        self._out += b"\r\n" + (line.encode() if isinstance(line, str) else line) + b"\r\n"

    def error(self, code=None):
        """The final result for a failed command: "+CME ERROR: <code>" in numeric mode, else ERROR."""
        if code is not None and self.cmee:
            self.say("+CME ERROR: %d" % code)
        else:
            self.say("ERROR")

    def prompt(self, n, done):
        if n > len(self._data):
            self.say("ERROR")  # longer than the modem's send buffer
            return
        self._dn = 0
        self._out += b"> "
        self._data_left = n
        self._data_done = done
        if n == 0:
            self._data_left = 0
            done(b"")

    # -- commands ---------------------------------------------------------------------------------
    def _command(self, line):
        if not line:
            return
        u = line.upper()
        if not u.startswith("AT"):
            self.say("ERROR")
            return
        self.commands += 1
        body = line[2:]
        if body == "":
            self.say("OK")
            return
        if body.upper() in ("E0", "E1"):
            self.echo = body[1] == "1"
            self.say("OK")
            return
        if not body.startswith("+"):
            self.say("ERROR")
            return
        name = body[1:]
        for sep in "=?":
            if sep in name:
                name = name[:name.index(sep)]
        arg = body[1 + len(name):]
        cme = (self.opts.get("cme") or {}).get(name.upper())
        if cme is not None:
            self.error(int(cme))
            return
        if name == "CMEE" and arg.startswith("="):
            self.cmee = int(arg[1:])
            self.say("OK")
        elif name == "CPIN" and arg == "?":
            if self.opts.get("sim") == "absent":
                self.error(10)  # SIM not inserted
            else:
                self.say("+CPIN: READY")
                self.say("OK")
        elif name == "CLTS" and arg.startswith("="):
            self.clts = int(arg[1:])
            self.say("OK")
        elif name == "CLTS" and arg == "?":
            self.say("+CLTS: %d" % self.clts)
            self.say("OK")
        elif name == "CCLK" and arg == "?":
            self.say('+CCLK: "%s"' % self.cclk())
            self.say("OK")
        elif name == "CSQ":
            self.say("+CSQ: %d,0" % (int(self.opts.get("csq", 18)) if self.stat() == STAT_HOME else 99))
            self.say("OK")
        elif not self.handle(name.upper(), arg):
            self.say("ERROR")

    def cclk(self):
        """The clock as AT+CCLK? gives it: "yy/MM/dd,hh:mm:ss+zz"."""
        if not self._nitz and self.clts and self.stat() == STAT_HOME and self.opts.get("nitz", True):
            self._nitz = True  # NITZ comes with the registration
        if self._nitz:
            q = int(self.opts.get("tz_q", 4))
            t = int(_real_time()) + q * 900
        else:
            q = 0
            y, mo, d = self.DEFAULT_RTC
            t = _days(y, mo, d) * 86400 + int(_real_time() - self._power_up)
        tm = time.gmtime(t)
        return "%02d/%02d/%02d,%02d:%02d:%02d%s%02d" % (tm[0] % 100, tm[1], tm[2], tm[3], tm[4], tm[5],
                                                     "-" if q < 0 else "+", abs(q))

    def handle(self, name, arg):
        """A subclass's command; False if unknown (ERROR)."""
        return False

    @staticmethod
    def params(arg):
        """'="a","b",3' -> ["a", "b", "3"] (quotes removed)."""
        out = []
        for p in arg[1:].split(","):
            p = p.strip()
            if len(p) >= 2 and p[0] == '"' and p[-1] == '"':
                p = p[1:-1]
            out.append(p)
        return out

    # -- the network ------------------------------------------------------------------------------
    def stat(self):
        """Registration <stat> now (3GPP TS 27.007 7.2)."""
        reg = self.opts.get("registration")
        if reg == "denied":
            return STAT_DENIED
        if reg == "searching" or self._lost:
            return STAT_SEARCHING
        if _since(self._t0) < float(self.opts.get("register_s", 0.3)) * 1000:
            return STAT_SEARCHING
        return STAT_HOME

    def connect(self, host, port):
        """Open the TCP connection; True on success."""
        self.disconnect()
        self.rx = bytearray()
        self.sends = 0
        try:
            addr = socket.getaddrinfo(host, int(port))[0][-1]
            s = socket.socket()
            s.connect(addr)
        except OSError:
            return False
        s.setblocking(False)
        self.sock = s
        if select is not None:
            self._poll = select.poll()
            self._poll.register(s, select.POLLIN)
        return True

    def disconnect(self):
        s, self.sock = self.sock, None
        self._poll = None
        if s is not None:
            try:
                s.close()
            except OSError:
                pass

    def send(self, data):
        """Send on the connection; False if it is gone."""
        if self.sock is None:
            return False
        try:
            mv = memoryview(data)
            i = 0
            while i < len(mv):
                try:
                    i += self.sock.send(mv[i:]) or 0
                except OSError as e:
                    if not e.args or e.args[0] != _EAGAIN:
                        raise
                    time.sleep(0.001)  # the socket's send buffer is full (loopback: briefly)
        except OSError:
            self.dropped()
            return False
        self.sends += 1
        n = int(self.opts.get("drop_after_sends", 0))
        if n and self.sends >= n:
            self.opts["drop_after_sends"] = 0  # once
            self.dropped()
        return True

    def dropped(self):
        """The connection went away under the modem: close it and say so (the subclass's URC)."""
        if self.sock is not None:
            self.disconnect()
            self.on_closed()

    def on_closed(self):
        pass

    def on_bearer_lost(self):
        pass

    def on_data(self):
        pass

    def _pump(self):
        """Follow the network: the outage, and what arrives on the connection."""
        if outage.active():
            if not self._lost:
                self._lost = True
                self._back_at = None
                self.dropped()
                if self.bearer:
                    self.bearer = False
                    self.on_bearer_lost()
        elif self._lost:
            if self._back_at is None:
                self._back_at = _ms()
            elif _since(self._back_at) >= float(self.opts.get("register_s", 0.3)) * 1000:
                self._lost = False
        if self.sock is None or self._poll is None:
            return
        # like the modem's receive buffer, read from the network only while there is room
        while len(self.rx) < 1024 and self._poll.poll(0):
            s = self.sock
            try:  # non-blocking: MicroPython's readinto on a blocking socket waits for a full buffer
                n = s.recv_into(self._rbuf) if hasattr(s, "recv_into") else s.readinto(self._rbuf)
            except OSError as e:
                if e.args and e.args[0] == _EAGAIN:
                    return
                n = 0
            if n is None:  # MicroPython: nothing to read after all
                return
            if not n:
                self.dropped()
                return
            was_empty = not self.rx
            self.rx += memoryview(self._rbuf)[:n]
            if was_empty:
                self.on_data()
