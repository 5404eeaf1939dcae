"""BME680 calibration words, read once when the driver is built (drivers/bme680.py).

The driver imports this module in its constructor and unloads it afterwards: the code that unpacks the
calibration registers runs once per chip, so it stays out of the heap during measurement cycles.
Register addresses of Bosch's get_calib_data / bme68x_defs.h (BME68X_IDX_*); little-endian words.
"""
from micropython import const

_REG_COEFF1 = const(0x8A)  # 23 bytes, 0x8A..0xA0
_REG_COEFF2 = const(0xE1)  # 14 bytes, 0xE1..0xEE
_REG_COEFF3 = const(0x00)  # 5 bytes: res_heat_val 0x00, res_heat_range 0x02<5:4>, range_sw_err 0x04<7:4>


def _u16(b, lo):
    return b[lo] | (b[lo + 1] << 8)


def _s16(b, lo):
    v = b[lo] | (b[lo + 1] << 8)
    return v - 0x10000 if v & 0x8000 else v


def _s8(v):
    return v - 0x100 if v & 0x80 else v


def read(drv):
    """Read the chip's calibration through the driver's bus calls and set it on the driver (par_*,
    res_heat_val, res_heat_range, range_sw_err)."""
    a = bytearray(23)
    drv._io(drv._rd, _REG_COEFF1, a)
    b = bytearray(14)
    drv._io(drv._rd, _REG_COEFF2, b)
    c = bytearray(5)
    drv._io(drv._rd, _REG_COEFF3, c)
    drv.par_t1 = _u16(b, 8)  # 0xE9/0xEA
    drv.par_t2 = _s16(a, 0)  # 0x8A/0x8B
    drv.par_t3 = _s8(a[2])  # 0x8C
    drv.par_p1 = _u16(a, 4)  # 0x8E/0x8F
    drv.par_p2 = _s16(a, 6)  # 0x90/0x91
    drv.par_p3 = _s8(a[8])  # 0x92
    drv.par_p4 = _s16(a, 10)  # 0x94/0x95
    drv.par_p5 = _s16(a, 12)  # 0x96/0x97
    drv.par_p7 = _s8(a[14])  # 0x98
    drv.par_p6 = _s8(a[15])  # 0x99
    drv.par_p8 = _s16(a, 18)  # 0x9C/0x9D
    drv.par_p9 = _s16(a, 20)  # 0x9E/0x9F
    drv.par_p10 = a[22]  # 0xA0
    # Humidity words share 0xE2: par_h1's low nibble is 0xE2<3:0>, par_h2's is 0xE2<7:4>.
    drv.par_h1 = (b[2] << 4) | (b[1] & 0x0F)
    drv.par_h2 = (b[0] << 4) | (b[1] >> 4)
    drv.par_h3 = _s8(b[3])  # 0xE4
    drv.par_h4 = _s8(b[4])
    drv.par_h5 = _s8(b[5])
    drv.par_h6 = b[6]  # 0xE7, unsigned
    drv.par_h7 = _s8(b[7])  # 0xE8
    drv.par_gh2 = _s16(b, 10)  # 0xEB/0xEC
    drv.par_gh1 = _s8(b[12])  # 0xED
    drv.par_gh3 = _s8(b[13])  # 0xEE
    drv.res_heat_val = _s8(c[0])  # 0x00
    drv.res_heat_range = (c[2] & 0x30) >> 4  # 0x02<5:4>
    drv.range_sw_err = _s8(c[4] & 0xF0) >> 4  # 0x04<7:4>, signed 4-bit
