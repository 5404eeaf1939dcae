"""Bosch BME680 temperature / pressure / humidity / gas sensor over I2C (forced mode).

Sources: the Bosch datasheet BST-BME680-DS001 (register map, section 5; operation, section 3) and, for
the compensation formulas the datasheet defers to ("please refer to the BME6xy API", section 3.4), the
integer path of Bosch's reference API BME68x_SensorAPI (bme68x.c: calc_temperature, calc_pressure,
calc_humidity, calc_gas_resistance_low/high, calc_res_heat, calc_gas_wait, get_calib_data,
bme68x_get_meas_dur). Integer formulas, not the float ones: the ESP32 port has single-precision
floats, and the integer path gives Bosch's results exactly on every port.

Use (the driver never sleeps; an async caller awaits the returned time):

    drv = BME680(i2c)                      # checks chip id 0x61, reads the calibration
    drv.set_heater(320, 150)               # hot plate 320 degC for 150 ms (res_heat_0, gas_wait_0)
    ms = drv.start_measurement()           # one forced-mode TPHG conversion
    ... await asyncio.sleep_ms(ms) ...
    r = drv.read()                         # r.temperature degC, r.pressure hPa, r.humidity %RH,
                                           # r.gas_resistance ohm (None when no valid gas result)
    r["temperature"] works too. Or: raw = drv.read_raw(); drv.compensate_int(raw) / compensate(raw).

Deviations from Bosch's reference API, on purpose:
- No clamping. calc_humidity clamps to 0..100 %RH; we keep the formula's value (a clamped value looks
  real); the sensor layer flags values outside the specified range.
- Python integers do not overflow: for raw values a real chip can produce, the results equal the C
  code's; outside them (e.g. a pressure ADC far from any real pressure) C would wrap at 32 bits and we
  return the formula's value instead.
- par_h1 = 0xE3 << 4 | 0xE2 & 0x0F and par_h2 = 0xE1 << 4 | 0xE2 >> 4 (get_calib_data), and
  range_sw_err = signed 0x04<7:4>, as Bosch does (drivers/bme680_calibration.py, loaded only to read
  them). adafruit-circuitpython-bme680 (our test reference for temperature and pressure) takes the 0xE2
  nibbles the other way round, keeps a fraction of par_h1, clamps humidity and reads range_sw_err
  unsigned; tests/firmware/test_bme680.py measures what that changes.

No CRC exists on the BME680's I2C interface, so no ChecksumError here. Errors: AbsentError (no ack, or
a chip id other than 0x61), SensorTimeout (new_data_0 not set: the conversion did not finish),
InvalidDataError (a skipped-measurement marker, or calibration that divides by zero).
"""
from micropython import const

from drivers import errors  # the error kinds are made on first use (errors.py)

_NAME = "bme680"
_REG_FIELD0 = const(0x1D)  # meas_status_0 .. gas_r_lsb (BME688: 0x2D), section 5.3.5
_FIELD_LEN = const(17)
_REG_RES_HEAT0 = const(0x5A)  # section 5.3.3.2
_REG_GAS_WAIT0 = const(0x64)  # section 5.3.3.3
_REG_CTRL_GAS0 = const(0x70)  # heat_off<3>, section 5.3.3.4
_REG_CTRL_GAS1 = const(0x71)  # run_gas<4>, nb_conv<3:0>, section 5.3.3.5
_REG_CTRL_HUM = const(0x72)
_REG_CTRL_MEAS = const(0x74)
_REG_CONFIG = const(0x75)
_REG_CHIP_ID = const(0xD0)
_REG_RESET = const(0xE0)
_REG_VARIANT = const(0xF0)  # 0x00 BME680 (gas "low"), 0x01 BME688 (gas "high"): bme68x_defs.h
_CHIP_ID = const(0x61)  # section 5.3.4
_SOFT_RESET = const(0xB6)
_NEW_DATA = const(0x80)  # meas_status_0<7>
_GAS_VALID = const(0x20)  # gas_r_lsb<5>, section 5.3.5.5
_HEAT_STAB = const(0x10)  # gas_r_lsb<4>, section 5.3.5.6
_SKIPPED_20 = const(0x80000)  # T/P registers' value when the measurement was skipped (section 5.3.5)
_SKIPPED_16 = const(0x8000)
_ENODEV = const(19)  # errno MicroPython raises when an I2C address does not ack
_MAX_HEATER_C = const(400)  # calc_res_heat caps the target at 400 degC; we refuse more instead
_MAX_GAS_WAIT_MS = const(4032)  # gas_wait<5:0> x 4^gas_wait<7:6>: 63 x 64 ms (section 5.3.3.3)

# osrs_x values for oversampling 0 (skip), 1, 2, 4, 8, 16 (section 5.3.2) and the measurement cycles
# each costs (os_to_meas_cycles in bme68x_get_meas_dur).
_OSRS = {0: 0, 1: 1, 2: 2, 4: 3, 8: 4, 16: 5}

# calc_gas_resistance_low's lookup tables (the datasheet's const_array1/2, in fixed point).
_GAS_K1 = (2147483647, 2147483647, 2147483647, 2147483647, 2147483647, 2126008810, 2147483647,
           2130303777, 2147483647, 2147483647, 2143188679, 2136746228, 2147483647, 2126008810,
           2147483647, 2147483647)
_GAS_K2 = (4096000000, 2048000000, 1024000000, 512000000, 255744255, 127110228, 64000000, 32258064,
           16016016, 8000000, 4000000, 2000000, 1000000, 500000, 250000, 125000)


def _cdiv(a, b):
    """C's integer division (truncates toward zero); Python's // floors."""
    q = a // b
    if q < 0 and q * b != a:
        q += 1
    return q


def gas_wait_code(ms):
    """gas_wait_x register value for a heating time in ms (calc_gas_wait; section 5.3.3.3):
    6-bit value x multiplication factor 1, 4, 16 or 64 in bits 7:6."""
    factor = 0
    while ms > 0x3F:
        ms //= 4
        factor += 1
    return ms | (factor << 6)


def gas_wait_ms(code):
    """Heating time in ms that a gas_wait_x register value stands for."""
    return (code & 0x3F) << (2 * (code >> 6))


class BME680:
    def __init__(self, i2c, address=0x77, oversampling_t=2, oversampling_p=4, oversampling_h=2,
                 reset=False):
        """Check the chip id and read the calibration. AbsentError if nothing answers at `address` or
        the chip is not a BME680/BME688. `reset=True` soft-resets first (registers back to defaults)."""
        # Bound once: fetching i2c.readfrom_mem_into per transfer would allocate a bound method each time.
        self._rd = i2c.readfrom_mem_into
        self._wr = i2c.writeto_mem
        self.address = address
        self._os = (oversampling_t, oversampling_p, oversampling_h)
        self._ctrl_meas = (_OSRS[oversampling_t] << 5) | (_OSRS[oversampling_p] << 2)  # mode bits 00
        self._ctrl_hum = _OSRS[oversampling_h]
        self._b1 = bytearray(1)
        self._field = bytearray(_FIELD_LEN)
        self.raw = [0, 0, 0, 0, 0, 0]  # adc_t, adc_p, adc_h, gas_adc, gas_range, gas status bits
        self._int = [0, 0, 0, None]
        self.reading = None  # the Reading compensate() fills, made on its first call
        self.t_fine = 0
        self.heater_c = None
        self.heater_ms = 0
        if reset:
            self._write_reg(_REG_RESET, _SOFT_RESET)
        chip = self._read_reg(_REG_CHIP_ID)
        if chip != _CHIP_ID:
            raise errors.AbsentError(_NAME, "chip id 0x%02x at 0x%02x, expected 0x61" % (chip, address))
        self.variant = self._read_reg(_REG_VARIANT)
        # Read once per chip: the unpacking code is loaded for it and unloaded again.
        from drivers import bme680_calibration
        from unload import forget

        bme680_calibration.read(self)
        forget("drivers.bme680_calibration")

    # -- bus ---------------------------------------------------------------------------------------

    def _io(self, fn, reg, buf):
        try:
            fn(self.address, reg, buf)
        except OSError as e:
            if e.args and e.args[0] == _ENODEV:
                raise errors.AbsentError(_NAME, "no ack at I2C address 0x%02x" % self.address)
            raise

    def _read_reg(self, reg):
        self._io(self._rd, reg, self._b1)
        return self._b1[0]

    def _write_reg(self, reg, value):
        self._b1[0] = value
        self._io(self._wr, reg, self._b1)

    # -- heater ------------------------------------------------------------------------------------

    def res_heat_code(self, target_c, ambient_c=25):
        """res_heat_x register value for a hot-plate target in degC (calc_res_heat, integer path;
        datasheet section 3.3.5). ambient_c: the air temperature around the chip (Bosch: 25 if
        unknown)."""
        var1 = _cdiv(ambient_c * self.par_gh3, 1000) * 256
        var2 = (self.par_gh1 + 784) * _cdiv(_cdiv((self.par_gh2 + 154009) * target_c * 5, 100) + 3276800, 10)
        var3 = var1 + _cdiv(var2, 2)
        var4 = _cdiv(var3, self.res_heat_range + 4)
        var5 = 131 * self.res_heat_val + 65536
        x100 = (_cdiv(var4, var5) - 250) * 34
        return _cdiv(x100 + 50, 100) & 0xFF

    def set_heater(self, target_c, duration_ms, ambient_c=25):
        """Heater set-point 0 for the next forced conversions; target_c None switches gas off.
        Returns (res_heat_0, gas_wait_0) as written. ValueError outside 0..400 degC / 1..4032 ms
        (the chip's limits, section 3.3.5 and 5.3.3.3)."""
        if target_c is None:
            self._write_reg(_REG_CTRL_GAS0, 0x08)  # heat_off
            self._write_reg(_REG_CTRL_GAS1, 0x00)  # run_gas off, nb_conv 0
            self.heater_c = None
            self.heater_ms = 0
            return None
        if not 0 <= target_c <= _MAX_HEATER_C:
            raise ValueError("bme680: heater target %s degC outside 0..400" % (target_c,))
        if not 1 <= duration_ms <= _MAX_GAS_WAIT_MS:
            raise ValueError("bme680: heater duration %s ms outside 1..4032" % (duration_ms,))
        rh = self.res_heat_code(int(target_c), int(ambient_c))
        gw = gas_wait_code(int(duration_ms))
        self._write_reg(_REG_RES_HEAT0, rh)
        self._write_reg(_REG_GAS_WAIT0, gw)
        self._write_reg(_REG_CTRL_GAS0, 0x00)  # heater on
        # run_gas: bit 4 on the BME680; the BME688 selects its "high" gas range with 0b10 in bits 5:4.
        self._write_reg(_REG_CTRL_GAS1, 0x20 if self.variant == 1 else 0x10)  # nb_conv = 0
        self.heater_c = target_c
        self.heater_ms = gas_wait_ms(gw)
        return rh, gw

    # -- measurement -------------------------------------------------------------------------------

    def measurement_us(self):
        """bme68x_get_meas_dur for forced mode: 1963 us per oversampling cycle, 4 x 477 us TPH
        switching, 5 x 477 us gas measurement, 1 ms wake-up; the heating time comes on top."""
        t, p, h = self._os
        return (t + p + h) * 1963 + 477 * 4 + 477 * 5 + 1000

    def start_measurement(self):
        """Start one forced-mode conversion; return the ms to wait before read_raw().

        ctrl_hum takes effect only with the following ctrl_meas write (section 5.3.2.1), so it goes
        first; filter off (config), then mode<1:0> = 01 (forced, section 3.1)."""
        self._write_reg(_REG_CTRL_HUM, self._ctrl_hum)
        self._write_reg(_REG_CONFIG, 0x00)
        self._write_reg(_REG_CTRL_MEAS, self._ctrl_meas | 0x01)
        return (self.measurement_us() + 999) // 1000 + self.heater_ms

    def is_measuring(self):
        return bool(self._read_reg(_REG_FIELD0) & 0x60)  # gas_measuring<6>, measuring<5>

    def read_raw(self):
        """Read field 0 in one burst; return the driver's `raw` list (reused by the next call):
        [adc_t, adc_p, adc_h, gas_adc, gas_range, gas status (gas_valid 0x20 | heat_stab 0x10)]."""
        d = self._field
        self._io(self._rd, _REG_FIELD0, d)
        if not d[0] & _NEW_DATA:
            raise errors.SensorTimeout(_NAME, "no new data: the conversion did not finish")
        adc_p = (d[2] << 12) | (d[3] << 4) | (d[4] >> 4)
        adc_t = (d[5] << 12) | (d[6] << 4) | (d[7] >> 4)
        adc_h = (d[8] << 8) | d[9]
        if adc_t == _SKIPPED_20 or adc_p == _SKIPPED_20 or adc_h == _SKIPPED_16:
            raise errors.InvalidDataError(_NAME, "measurement skipped (reset value in data registers)")
        g = 15 if self.variant == 1 else 13  # gas_r at 0x2C/0x2D on the BME688, 0x2A/0x2B on the BME680
        r = self.raw
        r[0] = adc_t
        r[1] = adc_p
        r[2] = adc_h
        r[3] = (d[g] << 2) | (d[g + 1] >> 6)
        r[4] = d[g + 1] & 0x0F
        r[5] = d[g + 1] & (_GAS_VALID | _HEAT_STAB)
        return r

    # -- compensation ------------------------------------------------------------------------------

    def temperature_int(self, adc_t):
        """0.01 degC (calc_temperature); sets t_fine."""
        var1 = (adc_t >> 3) - (self.par_t1 << 1)
        var2 = (var1 * self.par_t2) >> 11
        var3 = ((var1 >> 1) * (var1 >> 1)) >> 12
        var3 = (var3 * (self.par_t3 << 4)) >> 14
        self.t_fine = var2 + var3
        return (self.t_fine * 5 + 128) >> 8

    def pressure_int(self, adc_p):
        """Pa (calc_pressure), from t_fine."""
        var1 = (self.t_fine >> 1) - 64000
        var2 = ((((var1 >> 2) * (var1 >> 2)) >> 11) * self.par_p6) >> 2
        var2 = var2 + ((var1 * self.par_p5) << 1)
        var2 = (var2 >> 2) + (self.par_p4 << 16)
        var1 = (((((var1 >> 2) * (var1 >> 2)) >> 13) * (self.par_p3 << 5)) >> 3) + ((self.par_p2 * var1) >> 1)
        var1 = var1 >> 18
        var1 = ((32768 + var1) * self.par_p1) >> 15
        if var1 == 0:
            raise errors.InvalidDataError(_NAME, "pressure compensation divides by zero (par_p1 = %d)" % self.par_p1)
        p = 1048576 - adc_p
        p = (p - (var2 >> 12)) * 3125
        # Bosch divides first above 2^30 to stay in 32 bits; same order here for the same rounding.
        p = _cdiv(p, var1) << 1 if p >= 0x40000000 else _cdiv(p << 1, var1)
        var1 = (self.par_p9 * (((p >> 3) * (p >> 3)) >> 13)) >> 12
        var2 = ((p >> 2) * self.par_p8) >> 13
        var3 = ((p >> 8) * (p >> 8) * (p >> 8) * self.par_p10) >> 17
        return p + ((var1 + var2 + var3 + (self.par_p7 << 7)) >> 4)

    def humidity_int(self, adc_h):
        """0.001 %RH (calc_humidity without its clamp to 0..100000), from t_fine."""
        ts = (self.t_fine * 5 + 128) >> 8
        var1 = adc_h - self.par_h1 * 16 - (_cdiv(ts * self.par_h3, 100) >> 1)
        var2 = (self.par_h2 * (_cdiv(ts * self.par_h4, 100)
                               + _cdiv((ts * _cdiv(ts * self.par_h5, 100)) >> 6, 100) + 16384)) >> 10
        var3 = var1 * var2
        var4 = ((self.par_h6 << 7) + _cdiv(ts * self.par_h7, 100)) >> 4
        var5 = ((var3 >> 14) * (var3 >> 14)) >> 10
        var6 = (var4 * var5) >> 1
        return (((var3 + var6) >> 10) * 1000) >> 12

    def gas_int(self, gas_adc, gas_range):
        """Ohm: calc_gas_resistance_low (BME680) or calc_gas_resistance_high (BME688)."""
        if self.variant == 1:
            return (10000 * (262144 >> gas_range) // (4096 + 3 * (gas_adc - 512))) * 100
        var1 = ((1340 + 5 * self.range_sw_err) * _GAS_K1[gas_range]) >> 16
        var2 = (gas_adc << 15) - 16777216 + var1
        var3 = (_GAS_K2[gas_range] * var1) >> 9
        return _cdiv(var3 + (var2 >> 1), var2)

    def compensate_int(self, raw):
        """[0.01 degC, Pa, 0.001 %RH, ohm or None] in a list reused by the next call. Gas is None
        unless the chip marked the gas conversion valid (gas_valid_r)."""
        out = self._int
        out[0] = self.temperature_int(raw[0])
        out[1] = self.pressure_int(raw[1])
        out[2] = self.humidity_int(raw[2])
        out[3] = self.gas_int(raw[3], raw[4]) if raw[5] & _GAS_VALID else None
        return out

    def compensate(self, raw):
        """Fill and return the driver's Reading (reused by the next call)."""
        t, p, h, g = self.compensate_int(raw)
        r = self.reading
        if r is None:  # the sensor layer uses compensate_int() only: Reading is not in its heap
            from drivers.bme680_reading import Reading

            r = self.reading = Reading()
        r.temperature = t / 100
        r.pressure = p / 100
        r.humidity = h / 1000
        r.gas_resistance = g
        r.gas_valid = bool(raw[5] & _GAS_VALID)
        r.heat_stable = bool(raw[5] & _HEAT_STAB)
        return r

    def read(self):
        """Compensated values of the last finished conversion (call start_measurement() first)."""
        return self.compensate(self.read_raw())
