"""A-weighting as six first-order digital sections, in integers, for each sample rate.

The analogue A-weighting of IEC 61672-1:2002 Annex E (equations E.1, E.6) is
    A(f) = 20 log10( f4^2 f^4 / ((f^2 + f1^2) sqrt(f^2 + f2^2) sqrt(f^2 + f3^2) (f^2 + f4^2)) ) - A1000
with the pole frequencies f1 = 20.598997, f2 = 107.65265, f3 = 737.86223, f4 = 12194.217 Hz
(Annex E, E.2-E.4) and A1000 = -2.000 dB, the gain of that expression at 1 kHz. As a transfer
function it is s^4 / ((s + w1)^2 (s + w2) (s + w3) (s + w4)^2): every pole is real, so it splits into
four first-order high-pass sections (f1 twice, f2, f3) and two first-order low-pass sections (f4
twice). Each is mapped to the z-plane with the bilinear transform (k = pi f / rate):

    high-pass  H(z) = (1 - c) (1 - z^-1) / (1 - (1 - 2c) z^-1)   c = k / (1 + k)   gain 1 at Nyquist
    low-pass   H(z) = c (1 + z^-1) / (1 - (1 - 2c) z^-1)           c = k / (1 + k)   gain 1 at DC

so every section has a peak gain of 1 and the cascade never amplifies (see kernel.py for the
headroom). The 1 kHz normalisation (A1000) is not done in the filter but in the level offset
(meter.py), from the gain of these very integer coefficients at 1 kHz.

Each c is kept as a 15-bit mantissa and a shift: c ~ mantissa / 2**shift, 16384 <= mantissa < 32768,
shift >= 15 (kernel.py multiplies a 30-bit value by it in 32-bit words). `TABLE` holds the values for
the rates the kits and the CLI use, so a device and the CLI filter bit for bit alike whatever their
float precision (the ESP32's floats are single precision); `design()` computes them for any rate and
tests/firmware/test_noise_design.py checks that the table is its output.

The Fast time weighting (tau = 125 ms, IEC 61672-1:2002 5.7) is applied once per sub-block of
`block` samples as E <- E - E/128 + S/128 (S: the sub-block's sum of squares): a time constant of
block / (rate * -ln(1 - 1/128)), so block is chosen per rate to come closest to 125 ms: 124.8 ms at
48 kHz, 124.3 ms at 44.1 kHz, 123.5 ms at 32 kHz, 127.5 ms at 16 kHz.
"""
import math

F1 = 20.598997  # Hz, IEC 61672-1:2002 E.2 / E.3
F2 = 107.65265  # Hz, E.4
F3 = 737.86223  # Hz, E.4
F4 = 12194.217  # Hz, E.2 / E.3
TAU_FAST = 0.125  # s, IEC 61672-1:2002 5.7.1
_DECAY = 0.0078431774610258  # -ln(1 - 1/128): the per-sub-block decay of E - E/128

# rate -> (c1, q1, c2, q2, c3, q3, c4, q4, block); regenerate with design(rate).
TABLE = {
    16000: (16896, 22, 21706, 20, 16587, 17, 23114, 15, 16),
    32000: (16930, 23, 21933, 21, 17707, 18, 17854, 15, 31),
    44100: (24583, 24, 31921, 22, 26182, 19, 30465, 16, 43),
    48000: (22589, 24, 29346, 22, 24153, 19, 29089, 16, 47),
}


def _quantize(c):
    q = 15
    while c * (1 << (q + 1)) < 32767.5:
        q += 1
    return int(c * (1 << q) + 0.5), q


def _section(f, rate):
    k = math.pi * f / rate
    return k / (1 + k)


def design(rate):
    """The integer coefficients for `rate` (Hz): a tuple laid out like TABLE's values."""
    out = []
    for f in (F1, F2, F3, F4):
        m, q = _quantize(_section(f, rate))
        out.append(m)
        out.append(q)
    out.append(int(rate * TAU_FAST * _DECAY + 0.5))
    return tuple(out)


def coefficients(rate):
    rate = int(rate)
    if rate <= 0:
        raise ValueError("sample rate must be positive, got %r" % rate)
    c = TABLE.get(rate)
    return c if c is not None else design(rate)


def tau_fast(rate, coeffs=None):
    """The Fast time constant the sub-block length gives at `rate`, in seconds."""
    block = (coeffs or coefficients(rate))[8]
    return block / (rate * _DECAY)


def gain_db(f, rate, coeffs=None):
    """Gain of the integer filter at frequency f (Hz): 20 log10 |H(exp(j 2 pi f / rate))|."""
    c = coeffs or coefficients(rate)
    cw = math.cos(2 * math.pi * f / rate)
    g2 = 1.0
    for i, kind, times in ((0, 0, 2), (2, 0, 1), (4, 0, 1), (6, 1, 2)):
        a = c[i] / (1 << c[i + 1])
        p = 1 - 2 * a
        den = 1 - 2 * p * cw + p * p
        if kind == 0:
            h2 = (1 - a) * (1 - a) * (2 - 2 * cw) / den
        else:
            h2 = a * a * (2 + 2 * cw) / den
        for _ in range(times):
            g2 *= h2
    if g2 <= 0:
        return -math.inf
    return 10 * math.log10(g2)


def a_weighting_db(f):
    """The analogue design goal A(f) of IEC 61672-1:2002 Annex E (E.6), in dB (0 at 1 kHz)."""
    f2 = f * f
    num = F4 * F4 * f2 * f2
    den = (f2 + F1 * F1) * math.sqrt((f2 + F2 * F2) * (f2 + F3 * F3)) * (f2 + F4 * F4)
    return 20 * math.log10(num / den) + 2.0  # - A1000, A1000 = -2.000 dB (E.5)
