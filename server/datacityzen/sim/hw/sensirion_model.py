"""What the simulated Sensirion I2C sensors (SHT3x, SHT4x) share: CRC-8, NACKs, faults, a pending answer.

Sensirion sensors speak commands, not registers: the master writes a command, waits, then reads an
answer of 16-bit words each followed by a CRC-8 (poly 0x31, init 0xFF; SHT3x-DIS datasheet section 4.12).
While a measurement runs, or when no answer is pending, the sensor NACKs the read header: the fake
raises OSError(19) (ENODEV), which is what MicroPython's machine.I2C raises on the ESP32.

Faults (the address's "faults" in sim_hw.json):
- "unplugged": true          every transfer is NACKed (the model can be re-plugged: model.unplugged = False)
- "crc_error_every": n       every n-th answer has its last CRC byte corrupted (0: never)
- "stuck_measuring": true    a measurement never finishes: reads stay NACKed
"""
import sim_env

_ENODEV = 19


def crc8(data):
    crc = 0xFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def words(*values):
    """Answer bytes: each 16-bit value MSB first, then its CRC."""
    out = bytearray()
    for v in values:
        w = bytes(((v >> 8) & 0xFF, v & 0xFF))
        out += w
        out.append(crc8(w))
    return out


class SensirionModel:
    def __init__(self, env, cfg):
        faults = cfg.get("faults") or {}
        self.env = env
        self.cfg = cfg
        self.unplugged = bool(faults.get("unplugged", False))
        self.crc_error_every = int(faults.get("crc_error_every", 0))
        self.stuck = bool(faults.get("stuck_measuring", False))
        self.answers = 0
        self.commands = []  # every command received, for tests
        self._answer = None
        self._ready_at = 0.0

    def _nack(self):
        raise OSError(_ENODEV)

    def _answer_after(self, seconds, data):
        """The answer `data` becomes readable after `seconds` (None: is computed when read)."""
        self._answer = data
        self._ready_at = sim_env.now() + seconds

    def i2c_write(self, buf):
        if self.unplugged:
            self._nack()
        self.command(bytes(buf))

    def i2c_read(self, buf):
        if self.unplugged or self._answer is None or self.stuck or sim_env.now() < self._ready_at:
            self._nack()
        data = self._answer
        if callable(data):
            data = data()
        self._answer = None  # an answer is read once; the next read header is NACKed
        self.answers += 1
        data = bytearray(data)
        if self.crc_error_every and self.answers % self.crc_error_every == 0:
            data[-1] ^= 0x5A
        n = min(len(buf), len(data))
        for i in range(n):
            buf[i] = data[i]
        for i in range(n, len(buf)):
            buf[i] = 0xFF  # the bus idles high past the answer

    def command(self, cmd):
        raise NotImplementedError
