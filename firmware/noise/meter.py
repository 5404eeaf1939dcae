"""Sound level meter: LAeq over an interval, LAmin and LAmax with Fast time weighting, in dB(A).

    m = NoiseMeter(rate, calibration_db=0.0)
    m.process(samples, n)          # n int32 words, full scale +-2**31; allocates nothing
    levels = m.take()              # (laeq, lamin, lamax) since the last take(), or None

Level reference (project brief, IEC 61672-1 practice for digital MEMS microphones): a 1 kHz sine
whose RMS is 26 dB below that of a full-scale sine reads 94.0 dB(A); the microphones' sensitivity is
-26 dBFS at 94 dB SPL (INMP441, ICS-43434 and SPH0645 datasheets; ../shared/guide/reference.md). A
device's `calibration_db` is added to every level (from a comparison with a reference meter).

LAeq,T = 10 log10(mean(p_A^2) / p0^2) over the interval (IEC 61672-1:2002 3.9); LAFmax and LAFmin are
the largest and smallest Fast-weighted level (tau = 125 ms, 3.7) reached in it. A level is None when
the interval held digital silence (all-zero A-weighted signal), and lamin/lamax are None until the
first sub-block (about 1 ms) is complete.

The Fast state continues across take(): an interval's LAmin is that of a meter that was already
running, as with a reference meter logging intervals.
"""
import math
import sys
from array import array

from micropython import const

try:
    if sys.implementation.name != "micropython":
        raise ImportError("viper needs MicroPython")
    from noise.kernel_viper import process as _viper
except (ImportError, SyntaxError, ValueError):  # CPython, or a port built without the native emitter
    _viper = None

# The kernel's state words (kernel.py; tests/firmware/test_noise_kernels.py checks they match). Copied
# as compile-time constants so that with the viper kernel the plain one (kernel.py) is never loaded:
# its code would take about 2 KB of the device's heap for nothing.
_XP = const(0)
_SHI = const(7)
_SLO = const(8)
_PRIMED = const(10)
_EHI = const(11)
_ELO = const(12)
_MXHI = const(13)
_MXLO = const(14)
_MNHI = const(15)
_MNLO = const(16)
_AHI = const(17)
_ALO = const(18)
_REM = const(19)
_PHI = const(20)
_PLO = const(21)
_N_STATE = const(22)
_MN_EMPTY = const(0x3FFFFFFF)


REFERENCE_DB = 94.0  # dB SPL of the reference tone
REFERENCE_DBFS = -26.0  # its RMS relative to a full-scale sine's (microphone sensitivity)
_FULL_SCALE_SINE_DB = 450 * math.log10(2)  # 10 log10(2**45): mean square of a sine of amplitude 2**23 (kernel: y >> 3)
_SPILL_S = 20  # move the kernel's LAeq sum into a float at least this often (kernel.py: headroom)
VIPER_AVAILABLE = _viper is not None


class NoiseMeter:
    def __init__(self, rate, calibration_db=0.0, use_viper=None):
        """`use_viper`: None picks the viper kernel where it runs, True requires it, False never."""
        if use_viper and _viper is None:
            raise ValueError("the viper kernel needs MicroPython with the native emitter")
        rate = int(rate)
        # A-weighting coefficients and the filter's gain at 1 kHz: aweighting.py is needed only
        # here, once per meter, so it is unloaded afterwards.
        from noise import aweighting
        from unload import forget

        coeffs = aweighting.coefficients(rate)
        gain_1k = aweighting.gain_db(1000, rate, coeffs)
        forget("noise.aweighting")
        self._co = array("i", coeffs)
        self.block = coeffs[8]
        if (use_viper is None or use_viper) and _viper is not None:
            self._process = _viper
        else:
            from noise import kernel

            self._process = kernel.process
        self.viper = self._process is _viper
        # Rate and calibration are folded into these two and not kept: fewer attributes, a smaller
        # instance table in the device's heap.
        self._offset = (REFERENCE_DB - REFERENCE_DBFS + float(calibration_db) - _FULL_SCALE_SINE_DB - gain_1k)
        self._st = array("i", bytes(4 * _N_STATE))
        self._spill_at = _SPILL_S * rate
        self.reset()

    def reset(self):
        """Forget everything: filter, Fast state and the interval (a new recording or a restart)."""
        st = self._st
        for i in range(_N_STATE):
            st[i] = 0
        self._clear_extremes()
        self._started = False
        self._energy = 0.0
        self._count = 0
        self._pending = 0
        self._last_mean_square = 0.0

    def restart_fast(self):
        """Start the Fast weighting afresh from the mean square of the interval take() just closed
        (e.g. the filter's settling time): a steady sound then reads steady at once. Without one,
        from the next sub-block's energy."""
        st = self._st
        ms = self._last_mean_square
        if not ms:
            st[_PRIMED] = 0
            return
        e = ms * self.block
        hi = int(e / 268435456.0)
        st[_EHI] = hi
        st[_ELO] = min(268435455, max(0, int(e - hi * 268435456.0)))
        st[_PRIMED] = 1

    def _clear_extremes(self):
        st = self._st
        st[_MXHI] = -1
        st[_MXLO] = 0
        st[_MNHI] = _MN_EMPTY
        st[_MNLO] = 0

    def process(self, samples, n=None):
        """Add n samples (int32 words, full scale +-2**31) from the start of `samples`."""
        if n is None:
            n = len(samples)
        if n <= 0:
            return
        if n > self._spill_at:
            raise ValueError("at most %d samples per call" % self._spill_at)
        if not self._started:
            # Start as if the first sample had always been there: a DC offset (SPH0645) then gives
            # no start-up transient through the high-pass sections.
            self._st[_XP] = samples[0] >> 5
            self._started = True
        self._process(samples, n, self._st, self._co)
        self._pending += n
        if self._pending >= self._spill_at:
            self._spill()

    def _spill(self):
        st = self._st
        e = ((st[_AHI] * 268435456.0 + st[_ALO]) * 16384.0 + st[_REM]
             + (st[_SHI] - st[_PHI]) * 268435456.0 + (st[_SLO] - st[_PLO]))
        st[_AHI] = 0
        st[_ALO] = 0
        st[_REM] = 0
        st[_PHI] = st[_SHI]
        st[_PLO] = st[_SLO]
        self._energy += e
        self._count += self._pending
        self._pending = 0

    def _level(self, mean_square):
        if mean_square <= 0:
            return None
        return 10 * math.log10(mean_square) + self._offset

    def fast_level(self):
        """The current Fast-weighted level LAF, dB(A) (None before the first sub-block)."""
        st = self._st
        if not st[_PRIMED]:
            return None
        return self._level((st[_EHI] * 268435456.0 + st[_ELO]) / self.block)

    def take(self):
        """(laeq, lamin, lamax) in dB(A) for the samples since the last take(), then start a new
        interval; None when no sample came."""
        self._spill()
        count = self._count
        if count == 0:
            return None
        st = self._st
        self._last_mean_square = self._energy / count
        laeq = self._level(self._last_mean_square)
        lamin = lamax = None
        if st[_MXHI] >= 0:
            lamax = self._level((st[_MXHI] * 268435456.0 + st[_MXLO]) / self.block)
            lamin = self._level((st[_MNHI] * 268435456.0 + st[_MNLO]) / self.block)
        self._energy = 0.0
        self._count = 0
        self._clear_extremes()
        return laeq, lamin, lamax
