"""Shared part of the I2S MEMS microphone drivers (inmp441.py, ics43434.py, sph0645.py).

The bus is a machine.I2S made by board.make_buses (mode RX, bits=32, format MONO): each sample
arrives as one 32-bit little-endian word holding the microphone's two's-complement sample
left-justified (MSB first), the bits after its LSB undefined (tri-stated on the line).

    mic = INMP441(i2s)
    n = mic.read_raw(words)        # raw: 32-bit words as the I2S peripheral delivered them
    clipped = mic.convert(words, n)  # converted, in place: the chip's valid bits only, full scale
                                     # +-2**31, the SPH0645 timing quirk undone
    n, clipped = mic.read(words)   # both

`words` is a caller's preallocated array('i'); nothing is allocated per read. `convert` raises
AbsentError when every word of the block is the same (no bit clock, or the microphone unplugged: the
data line then reads all zeros or, with a pull-up, all ones): a working microphone's own noise (its
noise floor is 29-33 dB(A), about 90 dB below full scale) always moves the low bits. It returns how
many samples sit at the chip's largest or smallest code (acoustic overload): the sensor flags those
intervals; samples are never clamped. The per-word loop runs as viper machine code under
MicroPython, in plain Python elsewhere (same results).
"""
from drivers import errors  # the error kinds are made on first use (errors.py)

try:
    import sys

    if sys.implementation.name != "micropython":
        raise ImportError
    import micropython

    @micropython.viper
    def _convert_viper(buf, n: int, shift: int, quirk: int) -> int:
        p = ptr32(buf)
        s31 = int(31)
        hb = int(1) << s31
        mask = 0 - (int(1) << shift)
        top = (int(1) << (31 - shift)) - 1
        first = p[0]
        first = first - ((first & hb) << 1)
        same = 1
        clipped = 0
        for i in range(n):
            w = p[i]
            w = w - ((w & hb) << 1)
            if w != first:
                same = 0
            if quirk:
                w = w >> 1
            w = w & mask
            c = w >> shift
            if c >= top or c < 0 - top:
                clipped += 1
            p[i] = w
        if same:
            return -1
        return clipped
except (ImportError, SyntaxError, ValueError):
    _convert_viper = None


def _convert_plain(buf, n, shift, quirk):
    mask = -(1 << shift)
    top = (1 << (31 - shift)) - 1
    first = buf[0]
    same = 1
    clipped = 0
    for i in range(n):
        w = buf[i]
        if w != first:
            same = 0
        if quirk:
            w = w >> 1
        w = w & mask
        c = w >> shift
        if c >= top or c < -top:
            clipped += 1
        buf[i] = w
    if same:
        return -1
    return clipped


class I2SMic:
    NAME = "i2s_mic"
    BITS = 24  # valid bits of a sample
    NOISE_FLOOR_DB = None  # dB(A), from each chip's datasheet (its SNR below 94 dB SPL)
    QUIRK = False  # the SPH0645's one-bit shift on an ESP32 (sph0645.py)

    def __init__(self, i2s, quirk=None, use_viper=None):
        self._i2s = i2s
        self.quirk = self.QUIRK if quirk is None else bool(quirk)
        self._shift = 32 - self.BITS
        if use_viper and _convert_viper is None:
            raise ValueError("viper conversion needs MicroPython")
        self._convert = _convert_viper if (use_viper is None or use_viper) and _convert_viper else _convert_plain

    def read_raw(self, words, nbytes=None):
        """Blocking read into `words` (array('i')); returns the number of samples read."""
        if nbytes is None:
            got = self._i2s.readinto(words)
        else:
            got = self._i2s.readinto(memoryview(words)[: nbytes // 4])
        return (got or 0) // 4

    def convert(self, words, n):
        """Convert n raw words in place (see the module docstring); return the clipped count."""
        if n <= 0:
            return 0
        r = self._convert(words, n, self._shift, 1 if self.quirk else 0)
        if r < 0:
            kind = "all zeros" if words[0] == 0 else "all ones" if words[0] == -1 else "constant"
            raise errors.AbsentError(self.NAME, "I2S data %s: no bit clock or microphone unplugged" % kind)
        return r

    def read(self, words):
        n = self.read_raw(words)
        return n, self.convert(words, n)
