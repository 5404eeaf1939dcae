"""Simulated Plantower PMS5003 / PMS7003 on a UART, per the PMS5003 data manual V2.3 (appendix I).

Powers up awake in active mode: one 32-byte data frame (42 4D 00 1C, 13 big-endian words, 16-bit sum)
every `period_s` of real time (2.3 s, the manual's "stable mode" interval). It obeys the host's
7-byte commands (42 4D CMD DATAH DATAL CkH CkL; a bad checksum is ignored, as the sensor does):
    E1 00 00/01  passive / active mode, answered with 42 4D 00 04 E1 DATAL CkH CkL
    E2 00 00     in passive mode: one data frame, within `answer_ms` (a frame takes 33 ms at 9600 baud)
    E4 00 00     sleep (answered 42 4D 00 04 E4 00 ..; then silent, fan off)
    E4 00 01     wake up (no answer; frames again in active mode)
The mode survives sleep; a power cycle (`power_cycle()`) brings back active mode.
The receive side is a 256-byte buffer like the ESP32 UART driver's default: bytes past it are lost.

Values come from sim_particles.Aerosol (masses from sim_env, counts consistent with them):
words 4-6 atmospheric environment, words 1-3 CF=1 (equal below 30 ug/m3, 1.5 times higher above, the
shape Plantower's two outputs have), words 7-12 counts per 0.1 L, word 13 reserved (PMS7003:
version 0x97, error code 0).

Config (the UART's entry in sim_hw.json): {"chip": "pms5003" | "pms7003", "period_s": 2.3,
"answer_ms": 40, "faults": {"checksum_error_every": N (every Nth data frame has a bad checksum),
"garbage_every": N (line noise before every Nth frame), "silent": true (connected, never answers:
the driver times out), "unplugged": true (same, as seen from the host: nothing on the wire)}}.
"""
import sim_env
import sim_particles

_RXBUF = 256


def _checksum(frame, n):
    s = 0
    for i in range(n):
        s += frame[i]
    return s & 0xFFFF


class PMS5003Model:
    def __init__(self, env, cfg):
        faults = cfg.get("faults") or {}
        self.env = env
        self.chip = cfg.get("chip", "pms5003")
        self.aerosol = sim_particles.Aerosol(env)
        self.period = float(cfg.get("period_s", 2.3))
        self.answer_s = float(cfg.get("answer_ms", 40)) / 1000
        self.checksum_every = int(faults.get("checksum_error_every", 0))
        self.garbage_every = int(faults.get("garbage_every", 0))
        self.silent = bool(faults.get("silent", False) or faults.get("unplugged", False))
        self.frames = 0  # data frames produced
        self.commands = []  # (cmd, data) received, for tests
        self._buf = bytearray(_RXBUF)
        self._head = 0
        self._len = 0
        self._cmd = bytearray(7)
        self._cmd_n = 0
        self._due = []  # times at which a requested frame goes out (passive mode)
        self.power_cycle()

    def power_cycle(self):
        self.awake = True
        self.passive = False
        self._next = sim_env.now() + self.period
        self._due = []

    # -- byte stream toward the host ---------------------------------------------------------------

    def _put(self, data):
        if self.silent:
            return
        for b in data:
            if self._len >= _RXBUF:
                return  # overrun: the UART driver drops what does not fit
            self._buf[(self._head + self._len) % _RXBUF] = b
            self._len += 1

    def data_frame(self, t):
        a = self.aerosol
        pm1, pm25, _, pm10, _ = a.masses(t)
        atm = [int(v + 0.5) for v in (pm1, pm25, pm10)]
        cf1 = [v if v < 30 else int(30 + (v - 30) * 1.5 + 0.5) for v in atm]
        counts = [min(65535, int(c + 0.5)) for c in a.counts_per_dl(t)]
        reserved = 0x9700 if self.chip == "pms7003" else 0
        words = cf1 + atm + counts + [reserved]
        f = bytearray(32)
        f[0], f[1], f[2], f[3] = 0x42, 0x4D, 0x00, 28
        for i, w in enumerate(words):
            w = min(w, 65535)
            f[4 + 2 * i] = w >> 8
            f[5 + 2 * i] = w & 0xFF
        s = _checksum(f, 30)
        self.frames += 1
        if self.checksum_every and self.frames % self.checksum_every == 0:
            s = (s + 1) & 0xFFFF
        f[30] = s >> 8
        f[31] = s & 0xFF
        if self.garbage_every and self.frames % self.garbage_every == 0:
            self._put(b"\x42\x00\x4d")
        return f

    def _answer(self, cmd, data):
        f = bytearray((0x42, 0x4D, 0x00, 0x04, cmd, data, 0, 0))
        s = _checksum(f, 6)
        f[6] = s >> 8
        f[7] = s & 0xFF
        self._put(f)

    def _pump(self):
        t = sim_env.now()
        while self._due and self._due[0] <= t:
            when = self._due.pop(0)
            if self.awake:
                self._put(self.data_frame(when))
        if not self.awake or self.passive:
            self._next = t + self.period
            return
        if t - self._next > 5 * self.period:
            self._next = t - 5 * self.period  # a host that polls rarely finds the buffer full anyway
        while t >= self._next:
            self._put(self.data_frame(self._next))
            self._next += self.period

    def any(self):
        self._pump()
        return self._len

    def read_into(self, buf, n):
        self._pump()
        n = min(n, self._len)
        for i in range(n):
            buf[i] = self._buf[self._head]
            self._head = (self._head + 1) % _RXBUF
        self._len -= n
        return n

    # -- commands from the host --------------------------------------------------------------------

    def write(self, data):
        self._pump()
        for b in data:
            n = self._cmd_n
            if (n == 0 and b != 0x42) or (n == 1 and b != 0x4D):
                self._cmd_n = 1 if b == 0x42 else 0
                self._cmd[0] = b
                continue
            self._cmd[n] = b
            self._cmd_n = n + 1
            if self._cmd_n == 7:
                self._cmd_n = 0
                self._command(self._cmd)
        return len(data)

    def _command(self, c):
        if _checksum(c, 5) != (c[5] << 8) | c[6]:
            return  # the sensor ignores a command with a bad check code
        cmd, data = c[2], (c[3] << 8) | c[4]
        if self.silent:
            return
        self.commands.append((cmd, data))
        if len(self.commands) > 50:
            self.commands.pop(0)
        if cmd == 0xE1:
            self.passive = data == 0
            self._next = sim_env.now() + self.period
            self._answer(0xE1, data & 0xFF)
        elif cmd == 0xE2:
            if self.awake and self.passive:
                self._due.append(sim_env.now() + self.answer_s)
        elif cmd == 0xE4:
            if data == 0:
                self._answer(0xE4, 0)
                self.awake = False
                self._due = []
            elif not self.awake:
                self.awake = True
                self._next = sim_env.now() + self.period
