"""Bosch BME280 temperature / pressure / humidity sensor over I2C.

From the Bosch datasheet BST-BME280-DS002 (rev 1.6); section numbers below refer to it.

Use in forced mode (section 3.3.3, the "weather monitoring" setting of 3.5.1): `start_measurement()`
writes the settings and returns how long the conversion takes, in ms; the caller waits (an async
caller with `asyncio.sleep_ms`), then calls `read()` or `read_raw()` + `compensate()`. The driver never
sleeps.

Compensation uses the datasheet's integer formulas (section 4.2.3 and appendix 8.2:
BME280_compensate_T_int32, BME280_compensate_P_int64, bme280_compensate_H_int32), not the double
ones: MicroPython on the ESP32 has single-precision floats, which lose the pressure formula's
precision, while the integer formulas give Bosch's reference results bit for bit on every port.
One deviation: the humidity formula's final clamp to 0..100 %RH is left out, because a clamped value
looks real; the sensor layer flags values outside the specified range instead.
"""
from micropython import const

from drivers import errors  # the error kinds are made on first use (errors.py)

_REG_CALIB_TP = const(0x88)  # 0x88..0xA1: T1..T3, P1..P9, (0xA0 unused), H1
_REG_CHIP_ID = const(0xD0)
_REG_CALIB_H = const(0xE1)  # 0xE1..0xE7: H2..H6
_REG_CTRL_HUM = const(0xF2)
_REG_STATUS = const(0xF3)
_REG_CTRL_MEAS = const(0xF4)
_REG_CONFIG = const(0xF5)
_REG_DATA = const(0xF7)  # 0xF7..0xFE: press msb lsb xlsb, temp msb lsb xlsb, hum msb lsb
_CHIP_ID = const(0x60)  # section 5.4.1
_MODE_FORCED = const(0x01)  # section 5.4.5, mode[1:0] = 01
_STATUS_MEASURING = const(0x08)  # section 5.4.4, bit 3
_ENODEV = const(19)  # errno MicroPython raises for an I2C address that does not ack
_SKIPPED_20 = const(0x80000)  # section 5.4.7/5.4.8: reset value of a skipped T/P measurement
_SKIPPED_16 = const(0x8000)  # section 5.4.9: reset value of a skipped humidity measurement

# osrs_x field values for oversampling 1, 2, 4, 8, 16 (tables 20, 23, 24).
_OSRS = {1: 1, 2: 2, 4: 3, 8: 4, 16: 5}

_NAME = "bme280"


def _s16(lo, hi):
    v = lo | (hi << 8)
    return v - 0x10000 if v & 0x8000 else v


def _s8(v):
    return v - 0x100 if v & 0x80 else v


class BME280:
    def __init__(self, i2c, address=0x76, oversampling_t=1, oversampling_p=1, oversampling_h=1):
        """Check the chip id and read the calibration. Raises AbsentError if nothing (or not a BME280)
        answers at `address`."""
        self._i2c = i2c
        self.address = address
        self._os_t = oversampling_t
        self._os_p = oversampling_p
        self._os_h = oversampling_h
        self._ctrl_meas = (_OSRS[oversampling_t] << 5) | (_OSRS[oversampling_p] << 2) | _MODE_FORCED
        self._ctrl_hum = _OSRS[oversampling_h]
        self._b1 = bytearray(1)
        self._data = bytearray(8)
        self.t_fine = 0
        chip = self._read_reg(_REG_CHIP_ID)
        if chip != _CHIP_ID:
            raise errors.AbsentError(_NAME, "chip id 0x%02x at 0x%02x, expected 0x60" % (chip, address))
        self._read_calibration()

    def _io(self, fn, reg, buf):
        try:
            fn(self.address, reg, buf)
        except OSError as e:
            if e.args and e.args[0] == _ENODEV:
                raise errors.AbsentError(_NAME, "no ack at I2C address 0x%02x" % self.address)
            raise

    def _read_reg(self, reg):
        self._io(self._i2c.readfrom_mem_into, reg, self._b1)
        return self._b1[0]

    def _write_reg(self, reg, value):
        self._b1[0] = value
        self._io(self._i2c.writeto_mem, reg, self._b1)

    def _read_calibration(self):
        # Table 16 (section 4.2.2): trimming parameters, little-endian words.
        c = bytearray(26)
        self._io(self._i2c.readfrom_mem_into, _REG_CALIB_TP, c)
        self.T1 = c[0] | (c[1] << 8)
        self.T2 = _s16(c[2], c[3])
        self.T3 = _s16(c[4], c[5])
        self.P1 = c[6] | (c[7] << 8)
        self.P2 = _s16(c[8], c[9])
        self.P3 = _s16(c[10], c[11])
        self.P4 = _s16(c[12], c[13])
        self.P5 = _s16(c[14], c[15])
        self.P6 = _s16(c[16], c[17])
        self.P7 = _s16(c[18], c[19])
        self.P8 = _s16(c[20], c[21])
        self.P9 = _s16(c[22], c[23])
        self.H1 = c[25]
        h = bytearray(7)
        self._io(self._i2c.readfrom_mem_into, _REG_CALIB_H, h)
        self.H2 = _s16(h[0], h[1])
        self.H3 = h[2]
        # H4 = 0xE4[7:0] << 4 | 0xE5[3:0]; H5 = 0xE6[7:0] << 4 | 0xE5[7:4]; both signed 12-bit.
        self.H4 = (_s8(h[3]) << 4) | (h[4] & 0x0F)
        self.H5 = (_s8(h[5]) << 4) | (h[4] >> 4)
        self.H6 = _s8(h[6])

    def start_measurement(self):
        """Start one forced-mode conversion; return the time to wait before reading, in ms.

        ctrl_hum only takes effect after a write to ctrl_meas (section 5.4.3), so it goes first.
        The wait is the maximum measurement time of appendix 9.1:
        1.25 + 2.3*osrs_t + (2.3*osrs_p + 0.575) + (2.3*osrs_h + 0.575) ms (9.3 ms at x1/x1/x1).
        """
        self._write_reg(_REG_CONFIG, 0x00)  # filter off, no SPI 3-wire (section 3.5.1)
        self._write_reg(_REG_CTRL_HUM, self._ctrl_hum)
        self._write_reg(_REG_CTRL_MEAS, self._ctrl_meas)
        us = 1250 + 2300 * self._os_t + 2300 * self._os_p + 575 + 2300 * self._os_h + 575
        return (us + 999) // 1000

    def is_measuring(self):
        return bool(self._read_reg(_REG_STATUS) & _STATUS_MEASURING)

    def read_raw(self):
        """Return (adc_T, adc_P, adc_H) from registers 0xF7..0xFE (one burst read, section 4)."""
        d = self._data
        self._io(self._i2c.readfrom_mem_into, _REG_DATA, d)
        adc_p = (d[0] << 12) | (d[1] << 4) | (d[2] >> 4)
        adc_t = (d[3] << 12) | (d[4] << 4) | (d[5] >> 4)
        adc_h = (d[6] << 8) | d[7]
        if adc_t == _SKIPPED_20 or adc_p == _SKIPPED_20 or adc_h == _SKIPPED_16:
            raise errors.InvalidDataError(_NAME, "measurement skipped (reset value in data registers)")
        return adc_t, adc_p, adc_h

    def compensate_int(self, raw):
        """Datasheet integer compensation: (T in 0.01 degC, P in Pa * 256, H in %RH * 1024).

        Sets self.t_fine. Python's >> is an arithmetic shift like the reference C code, and the one
        division is done truncating toward zero like C's.
        """
        adc_t, adc_p, adc_h = raw
        # BME280_compensate_T_int32
        v1 = (((adc_t >> 3) - (self.T1 << 1)) * self.T2) >> 11
        x = (adc_t >> 4) - self.T1
        v2 = (((x * x) >> 12) * self.T3) >> 14
        t_fine = v1 + v2
        self.t_fine = t_fine
        t = (t_fine * 5 + 128) >> 8
        # BME280_compensate_P_int64
        v1 = t_fine - 128000
        v2 = v1 * v1 * self.P6
        v2 = v2 + ((v1 * self.P5) << 17)
        v2 = v2 + (self.P4 << 35)
        v1 = ((v1 * v1 * self.P3) >> 8) + ((v1 * self.P2) << 12)
        v1 = (((1 << 47) + v1) * self.P1) >> 33
        if v1 == 0:
            raise errors.InvalidDataError(_NAME, "pressure compensation: division by zero")
        p = 1048576 - adc_p
        num = ((p << 31) - v2) * 3125
        p = num // v1 if (num >= 0) == (v1 > 0) else -((-num) // v1)
        v1 = (self.P9 * (p >> 13) * (p >> 13)) >> 25
        v2 = (self.P8 * p) >> 19
        p = ((p + v1 + v2) >> 8) + (self.P7 << 4)
        # bme280_compensate_H_int32, without the final clamp to 0..100 %RH (see module docstring)
        v = t_fine - 76800
        v = ((((adc_h << 14) - (self.H4 << 20) - (self.H5 * v)) + 16384) >> 15) * (
            ((((((v * self.H6) >> 10) * (((v * self.H3) >> 11) + 32768)) >> 10) + 2097152) * self.H2
             + 8192) >> 14)
        v = v - (((((v >> 15) * (v >> 15)) >> 7) * self.H1) >> 4)
        h = v >> 12
        return t, p, h

    def compensate(self, raw):
        """(temperature degC, pressure hPa, humidity %RH) as floats."""
        t, p, h = self.compensate_int(raw)
        return t / 100, p / 25600, h / 1024

    def read(self):
        """Compensated values of the last finished conversion (call start_measurement() first)."""
        return self.compensate(self.read_raw())
