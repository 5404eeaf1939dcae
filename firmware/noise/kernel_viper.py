"""kernel.process as @micropython.viper machine code, for the ESP32 (and the unix port).

Operation for operation the same as kernel.py (read that docstring for the number formats); only
the loads differ: a ptr32 load is zero-extended on 64-bit ports, so each is sign-extended by hand
(x - ((x & bit31) << 1), which is x itself on a 32-bit port). Every intermediate stays within
+-2**30, so the 64-bit ints of the unix port's viper and the 32-bit ints of the ESP32's give the same
results. Imported only under MicroPython (meter.py falls back to kernel.py elsewhere).
"""
import micropython


@micropython.viper
def process(buf, n: int, st, co):
    """kernel.process as machine code: same operations, same results."""
    p = ptr32(buf)
    s = ptr32(st)
    k = ptr32(co)
    sh = int(31)
    hb = int(1) << sh  # bit 31; a ptr32 load is zero-extended on 64-bit ports
    c1 = k[0]
    q1 = k[1]
    r1 = q1 - 15
    c2 = k[2]
    q2 = k[3]
    r2 = q2 - 15
    c3 = k[4]
    q3 = k[5]
    r3 = q3 - 15
    c4 = k[6]
    q4 = k[7]
    r4 = q4 - 15
    blk = k[8]
    xp = s[0]
    xp = xp - ((xp & hb) << 1)
    ya = s[1]
    ya = ya - ((ya & hb) << 1)
    yb = s[2]
    yb = yb - ((yb & hb) << 1)
    yc = s[3]
    yc = yc - ((yc & hb) << 1)
    yd = s[4]
    yd = yd - ((yd & hb) << 1)
    ye = s[5]
    ye = ye - ((ye & hb) << 1)
    yf = s[6]
    yf = yf - ((yf & hb) << 1)
    shi = s[7]
    shi = shi - ((shi & hb) << 1)
    slo = s[8]
    slo = slo - ((slo & hb) << 1)
    cnt = s[9]
    cnt = cnt - ((cnt & hb) << 1)
    primed = s[10]
    primed = primed - ((primed & hb) << 1)
    ehi = s[11]
    ehi = ehi - ((ehi & hb) << 1)
    elo = s[12]
    elo = elo - ((elo & hb) << 1)
    mxhi = s[13]
    mxhi = mxhi - ((mxhi & hb) << 1)
    mxlo = s[14]
    mxlo = mxlo - ((mxlo & hb) << 1)
    mnhi = s[15]
    mnhi = mnhi - ((mnhi & hb) << 1)
    mnlo = s[16]
    mnlo = mnlo - ((mnlo & hb) << 1)
    ahi = s[17]
    ahi = ahi - ((ahi & hb) << 1)
    alo = s[18]
    alo = alo - ((alo & hb) << 1)
    rem = s[19]
    rem = rem - ((rem & hb) << 1)
    phi = s[20]
    phi = phi - ((phi & hb) << 1)
    plo = s[21]
    plo = plo - ((plo & hb) << 1)
    for i in range(n):
        x = p[i]
        x = (x - ((x & hb) << 1)) >> 5
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
    s[0] = xp
    s[1] = ya
    s[2] = yb
    s[3] = yc
    s[4] = yd
    s[5] = ye
    s[6] = yf
    s[7] = shi
    s[8] = slo
    s[9] = cnt
    s[10] = primed
    s[11] = ehi
    s[12] = elo
    s[13] = mxhi
    s[14] = mxlo
    s[15] = mnhi
    s[16] = mnlo
    s[17] = ahi
    s[18] = alo
    s[19] = rem
    s[20] = phi
    s[21] = plo
