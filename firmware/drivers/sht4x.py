"""Sensirion SHT4x (SHT40/41/43/45) humidity and temperature sensor over I2C.

From the Sensirion datasheet "SHT4x" version 3 (April 2022); section numbers refer to it. Default address
0x44 (SHT4x-A...; 0x45 and 0x46 exist, section 4 / table 16). One-byte commands (table 7): 0xFD measures
with high precision (8.3 ms maximum, table 4), 0x89 reads the serial number, 0x94 soft-resets. The
sensor NACKs the read header until its answer is ready, so the driver never blocks the bus: start a
command, await the returned ms, then read. The heater is never switched on (it only runs on its own
commands, section 4.9).

Each 16-bit word is followed by a CRC-8 (poly 0x31, init 0xFF; section 4.4), checked on every word.
Conversions (section 4.6): T = -45 + 175 * S_T / (2^16 - 1) degC, RH = -6 + 125 * S_RH / (2^16 - 1) %RH.
The datasheet suggests cropping RH to 0..100 %RH; we do not: a value past the range is kept as
computed, and the sensor layer flags it.

Errors: AbsentError (the command is not acked), SensorTimeout (the read header is not acked),
ChecksumError (a word's CRC is wrong).
"""
from micropython import const

from drivers import errors  # the error kinds are made on first use (errors.py)
from drivers.sensirion_crc import word_ok

_NAME = "sht4x"
_CMD_MEASURE_HIGH = const(0xFD)
_CMD_SERIAL = const(0x89)
_CMD_SOFT_RESET = const(0x94)
_MEASURE_MS = const(9)  # t_MEAS,h max 8.3 ms (table 4), rounded up
_SERIAL_MS = const(10)  # Sensirion's reference driver (embedded-i2c-sht4x) waits 10 ms after 0x89
_RESET_MS = const(1)  # t_SR max 1 ms (table 4)
_ENODEV = const(19)
_ETIMEDOUT = const(116)


class Reading:
    """Converted values; attributes, or keys: r.temperature == r["temperature"]."""

    def __init__(self):
        self.temperature = 0.0  # degC
        self.humidity = 0.0  # %RH, may be below 0 or above 100 by the formula

    def __getitem__(self, key):
        return getattr(self, key)


class SHT4x:
    def __init__(self, i2c, address=0x44):
        """No bus traffic: call start_serial() (or start_measurement()) to find out whether it answers."""
        self._i2c = i2c
        self.address = address
        self._cmd = bytearray(1)
        self._buf = bytearray(6)
        self.raw = [0, 0]
        self._int = [0, 0]
        self.reading = Reading()
        self.serial = None

    def _command(self, cmd):
        self._cmd[0] = cmd
        try:
            self._i2c.writeto(self.address, self._cmd)
        except OSError as e:
            if e.args and e.args[0] in (_ENODEV, _ETIMEDOUT):
                raise errors.AbsentError(_NAME, "no ack at I2C address 0x%02x" % self.address)
            raise

    def _read6(self):
        buf = self._buf
        try:
            self._i2c.readfrom_into(self.address, buf)
        except OSError as e:
            if e.args and e.args[0] in (_ENODEV, _ETIMEDOUT):
                raise errors.SensorTimeout(_NAME, "read header not acked: no answer ready")
            raise
        if not word_ok(buf, 0):
            raise errors.ChecksumError(_NAME, "CRC mismatch on word 0")
        if not word_ok(buf, 3):
            raise errors.ChecksumError(_NAME, "CRC mismatch on word 1")
        return buf

    def soft_reset(self):
        self._command(_CMD_SOFT_RESET)
        return _RESET_MS

    def start_serial(self):
        """Ask for the serial number; return the ms to wait before read_serial()."""
        self._command(_CMD_SERIAL)
        return _SERIAL_MS

    def read_serial(self):
        """The 32-bit serial number (two CRC-protected words, most significant first)."""
        b = self._read6()
        self.serial = (b[0] << 24) | (b[1] << 16) | (b[3] << 8) | b[4]
        return self.serial

    def start_measurement(self):
        """Start one high-precision measurement (0xFD); return the ms to wait."""
        self._command(_CMD_MEASURE_HIGH)
        return _MEASURE_MS

    def read_raw(self):
        """[S_T, S_RH], in a list reused by the next call."""
        b = self._read6()
        r = self.raw
        r[0] = (b[0] << 8) | b[1]
        r[1] = (b[3] << 8) | b[4]
        return r

    def compensate_int(self, raw):
        """[0.001 degC, 0.001 %RH] (floor of the datasheet formulas), list reused by the next call."""
        out = self._int
        out[0] = -45000 + (175000 * raw[0]) // 65535
        out[1] = -6000 + (125000 * raw[1]) // 65535
        return out

    def compensate(self, raw):
        r = self.reading
        r.temperature = -45 + 175 * raw[0] / 65535
        r.humidity = -6 + 125 * raw[1] / 65535
        return r

    def read(self):
        return self.compensate(self.read_raw())
