"""Simulated Nova Fitness SDS011 on a UART, per "Laser Dust Sensor Control Protocol V1.3".

While awake in active reporting mode it emits one 10-byte data frame (AA C0 ... AB) per `period_s`
of real time (1 s, as the datasheet says); asleep it emits nothing. It answers command frames
(AA B4 D1..D15 CS AB, 19 bytes, checksum and device id checked like the real sensor, bad ones
ignored) with the datasheet's reply frames (AA C5 ...). The receive side is a 256-byte buffer like the
ESP32 UART driver's default: bytes past it are lost.

Config (the UART's entry in sim_hw.json): {"chip": "sds011", "period_s": 1.0, "device_id": 41251,
"faults": {"checksum_error_every": N (every Nth data frame has a bad checksum; 0 = never),
"garbage_every": N (N-th frames are preceded by 3 bytes of line noise), "silent": true (connected
but never sends data: the driver times out)}}.
"""
import sim_env

_RXBUF = 256


class SDS011Model:
    def __init__(self, env, cfg):
        faults = cfg.get("faults") or {}
        self.env = env
        self.period = float(cfg.get("period_s", 1.0))
        self.device_id = int(cfg.get("device_id", 0xA123))
        self.checksum_every = int(faults.get("checksum_error_every", 0))
        self.garbage_every = int(faults.get("garbage_every", 0))
        self.silent = bool(faults.get("silent", False))
        self.awake = True  # the sensor powers up working
        self.active = True  # and in active reporting mode
        self.working_period = 0
        self.frames = 0  # data frames produced, for fault injection and tests
        self.commands = []  # commands received, (d1, d2, d3), for tests
        self._buf = bytearray(_RXBUF)
        self._head = 0
        self._len = 0
        self._next = sim_env.now() + self.period
        self._cmd = bytearray(19)
        self._cmd_n = 0

    # -- byte stream toward the host ---------------------------------------------------------------

    def _put(self, data):
        for b in data:
            if self._len >= _RXBUF:
                return  # overrun: the UART driver drops what does not fit
            self._buf[(self._head + self._len) % _RXBUF] = b
            self._len += 1

    def _frame(self, cmd, d):
        f = bytearray(10)
        f[0] = 0xAA
        f[1] = cmd
        for i in range(6):
            f[2 + i] = d[i]
        f[8] = sum(d) & 0xFF
        f[9] = 0xAB
        return f

    def _data_frame(self, t):
        pm25, pm10 = self.env.pm(t)
        a = min(int(pm25 * 10 + 0.5), 9999)  # the sensor reports at most 999.9
        b = min(int(pm10 * 10 + 0.5), 9999)
        self.frames += 1
        f = self._frame(0xC0, (a & 0xFF, a >> 8, b & 0xFF, b >> 8, self.device_id >> 8, self.device_id & 0xFF))
        if self.checksum_every and self.frames % self.checksum_every == 0:
            f[8] = (f[8] + 1) & 0xFF
        if self.garbage_every and self.frames % self.garbage_every == 0:
            self._put(b"\x13\xaa\x07")
        return f

    def _pump(self):
        t = sim_env.now()
        if not (self.awake and self.active) or self.silent:
            self._next = t + self.period
            return
        if t - self._next > 5 * self.period:
            self._next = t - 5 * self.period  # a host that polls rarely finds the buffer full anyway
        while t >= self._next:
            self._put(self._data_frame(self._next))
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
        for b in data:
            n = self._cmd_n
            if (n == 0 and b != 0xAA) or (n == 1 and b != 0xB4):
                self._cmd_n = 1 if b == 0xAA else 0
                self._cmd[0] = b
                continue
            self._cmd[n] = b
            self._cmd_n = n + 1
            if self._cmd_n == 19:
                self._cmd_n = 0
                self._command(self._cmd)
        return len(data)

    def _command(self, c):
        if c[18] != 0xAB or sum(c[2:17]) & 0xFF != c[17]:
            return  # the real sensor ignores a bad command
        target = (c[15] << 8) | c[16]
        if target != 0xFFFF and target != self.device_id:
            return
        d1, d2, d3 = c[2], c[3], c[4]
        self.commands.append((d1, d2, d3))
        if len(self.commands) > 50:
            self.commands.pop(0)
        hi, lo = self.device_id >> 8, self.device_id & 0xFF
        if d1 == 2:  # reporting mode: D3 0 = active, 1 = query
            if d2 == 1:
                self.active = d3 == 0
            self._put(self._frame(0xC5, (2, d2, 0 if self.active else 1, 0, hi, lo)))
        elif d1 == 4:  # query data
            if self.awake and not self.silent:
                self._put(self._data_frame(sim_env.now()))
        elif d1 == 6:  # sleep (D3 = 0) / work (D3 = 1)
            if d2 == 1:
                if d3 == 1 and not self.awake:
                    self._next = sim_env.now() + self.period
                self.awake = d3 == 1
            self._put(self._frame(0xC5, (6, d2, 1 if self.awake else 0, 0, hi, lo)))
        elif d1 == 7:  # firmware version: year, month, day
            self._put(self._frame(0xC5, (7, 18, 11, 16, hi, lo)))
        elif d1 == 8:  # working period, minutes
            if d2 == 1:
                self.working_period = d3
            self._put(self._frame(0xC5, (8, d2, self.working_period, 0, hi, lo)))
        elif d1 == 5:  # set device id: new id in D12 D13
            self.device_id = (c[13] << 8) | c[14]
            self._put(self._frame(0xC5, (5, 0, 0, 0, c[13], c[14])))
