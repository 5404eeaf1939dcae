"""The per-sample arithmetic of the noise meter, in plain Python (the reference and the fallback).

kernel_viper.py does exactly the same operations as @micropython.viper machine code; tests compare
the two bit for bit. Everything is designed for 32-bit machine words (the ESP32's viper ints): every
intermediate stays within +-2**30, which tests/firmware/test_noise_ranges.py checks by running this
function with each arithmetic result range-checked, on full-scale and worst-case signals. Within
+-2**30 the plain path also allocates nothing on a 32-bit port (small ints).

Input: `buf`, n int32 words with full scale +-2**31 (an I2S word; 16-bit audio shifted left by 16).

Fixed point (F = 3 fractional bits):
- x = word >> 5: full scale 2**26 (24-bit samples with 3 fractional bits, so the rounding of six
  sections stays far below the 24-bit LSB).
- Six first-order sections (aweighting.py). Each peaks at gain 1; the sum of |impulse response|
  (the worst-case gain of any signal) from the input to any section's output is at most 2.3 at
  every rate (computed in tests), so a node stays within 2.3 * 2**26 < 2**27.3 and the terms a
  section forms (2y + d, with d a difference of two node values) within 4 * 2.3 * 2**26 < 2**29.3.
- A coefficient is a 15-bit mantissa c and a shift q >= 15; t * c is formed from the two halves of t
  ((t >> 15) * c and (t & 0x7FFF) * c, each below 2**30), each shifted, then added.
- The output y >> 3 (|a| < 2**24) is squared exactly into a two-word sum S = hi * 2**28 + lo,
  0 <= lo < 2**28, over a sub-block of `block` samples (at most 48: hi < 2**26).
- Once per sub-block: the Fast state E <- E - E/128 + S/128 (two words, shifts only), its maximum
  and minimum, and the LAeq sum A <- A + (S - P) / 2**14 with the remainder kept (so nothing is
  lost); P is the part of S already counted when the meter closed an interval mid-block. meter.py
  moves A into a float at least every 20 s of samples, which bounds A's high word below 2**27.
"""
from micropython import const

# State words (array('i')), shared with kernel_viper.py and meter.py.
XP = const(0)  # previous input x
YA = const(1)  # outputs of the six sections: high-pass f1, f1, f2, f3, low-pass f4, f4
YF = const(6)
SHI = const(7)  # sub-block sum of squares, high word (units 2**28)
SLO = const(8)  # and low word, 0 <= SLO < 2**28
CNT = const(9)  # samples in the current sub-block
PRIMED = const(10)  # 1 once E holds a first sub-block
EHI = const(11)  # Fast state E (a sum over one sub-block), two words
ELO = const(12)
MXHI = const(13)  # largest E since the interval began (MXHI = -1: none yet)
MXLO = const(14)
MNHI = const(15)  # smallest E since the interval began
MNLO = const(16)
AHI = const(17)  # LAeq sum, units of 2**14 samples^2, two words
ALO = const(18)
REM = const(19)  # what is left below 2**14
PHI = const(20)  # part of the current S already counted in an interval that closed mid-block
PLO = const(21)
N_STATE = const(22)
MN_EMPTY = const(0x3FFFFFFF)


def process(buf, n, st, co):
    """Filter, square and accumulate n samples of buf into the state st, with coefficients co."""
    c1 = co[0]
    q1 = co[1]
    r1 = q1 - 15
    c2 = co[2]
    q2 = co[3]
    r2 = q2 - 15
    c3 = co[4]
    q3 = co[5]
    r3 = q3 - 15
    c4 = co[6]
    q4 = co[7]
    r4 = q4 - 15
    blk = co[8]
    xp = st[0]
    ya = st[1]
    yb = st[2]
    yc = st[3]
    yd = st[4]
    ye = st[5]
    yf = st[6]
    shi = st[7]
    slo = st[8]
    cnt = st[9]
    primed = st[10]
    ehi = st[11]
    elo = st[12]
    mxhi = st[13]
    mxlo = st[14]
    mnhi = st[15]
    mnlo = st[16]
    ahi = st[17]
    alo = st[18]
    rem = st[19]
    phi = st[20]
    plo = st[21]
    for i in range(n):
        x = buf[i] >> 5
        d = x - xp
        xp = x
        # high-pass sections: d is the change of the section's input, then of its output
        t = ya + ya + d
        d = d - ((((t >> 15) * c1) >> r1) + (((t & 0x7FFF) * c1) >> q1))
        ya = ya + d
        t = yb + yb + d
        d = d - ((((t >> 15) * c1) >> r1) + (((t & 0x7FFF) * c1) >> q1))
        yb = yb + d
        t = yc + yc + d
        d = d - ((((t >> 15) * c2) >> r2) + (((t & 0x7FFF) * c2) >> q2))
        yc = yc + d
        t = yd + yd + d
        d = d - ((((t >> 15) * c3) >> r3) + (((t & 0x7FFF) * c3) >> q3))
        yd = yd + d
        # low-pass sections: y += c * (x + x_prev - 2 y)
        t = yd + yd - d - ye - ye
        d = (((t >> 15) * c4) >> r4) + (((t & 0x7FFF) * c4) >> q4)
        ye = ye + d
        t = ye + ye - d - yf - yf
        yf = yf + (((t >> 15) * c4) >> r4) + (((t & 0x7FFF) * c4) >> q4)
        # exact square into the two-word sub-block sum
        a = yf >> 3
        if a < 0:
            a = -a
        ah = a >> 14
        al = a & 0x3FFF
        m = ah * al
        shi = shi + ah * ah + (m >> 13)
        slo = slo + ((m & 0x1FFF) << 15) + al * al
        shi = shi + (slo >> 28)
        slo = slo & 0xFFFFFFF
        cnt = cnt + 1
        if cnt == blk:
            cnt = 0
            if primed:
                elo = elo - (((ehi & 127) << 21) | (elo >> 7)) + (((shi & 127) << 21) | (slo >> 7))
                ehi = ehi - (ehi >> 7) + (shi >> 7) + (elo >> 28)
                elo = elo & 0xFFFFFFF
            else:
                ehi = shi
                elo = slo
                primed = 1
            if ehi > mxhi or (ehi == mxhi and elo > mxlo):
                mxhi = ehi
                mxlo = elo
            if ehi < mnhi or (ehi == mnhi and elo < mnlo):
                mnhi = ehi
                mnlo = elo
            t = slo - plo + rem
            d = shi - phi + (t >> 28)
            t = t & 0xFFFFFFF
            rem = t & 0x3FFF
            alo = alo + (((d & 0x3FFF) << 14) | (t >> 14))
            ahi = ahi + (d >> 14) + (alo >> 28)
            alo = alo & 0xFFFFFFF
            phi = 0
            plo = 0
            shi = 0
            slo = 0
    st[0] = xp
    st[1] = ya
    st[2] = yb
    st[3] = yc
    st[4] = yd
    st[5] = ye
    st[6] = yf
    st[7] = shi
    st[8] = slo
    st[9] = cnt
    st[10] = primed
    st[11] = ehi
    st[12] = elo
    st[13] = mxhi
    st[14] = mxlo
    st[15] = mnhi
    st[16] = mnlo
    st[17] = ahi
    st[18] = alo
    st[19] = rem
    st[20] = phi
    st[21] = plo
