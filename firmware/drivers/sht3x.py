"""Sensirion SHT3x-DIS (SHT30/31/35) humidity and temperature sensor over I2C.

From the Sensirion datasheet "SHT3x-DIS" version 5 (May 2018); section numbers refer to it.
Addresses 0x44 (ADDR pin low) or 0x45 (high), section 3.4 / table 7. Single-shot, high repeatability,
clock stretching disabled (command 0x2400, table 9): the sensor NACKs the read header until the
measurement is done (section 4.4), so the driver never blocks the bus: `start_measurement()` returns
the ms to wait (15 ms maximum for high repeatability, table 4), and the caller awaits before `read()`.

Each 16-bit word is followed by a CRC-8 (poly 0x31, init 0xFF; section 4.12), checked on every word.
Conversions (section 4.13): T = -45 + 175 * S_T / (2^16 - 1) degC, RH = 100 * S_RH / (2^16 - 1) %RH.
No clamping (the sensor layer flags). The heater stays off (0x3066, section 4.10).

Errors: AbsentError (the command is not acked), SensorTimeout (the read header is not acked: no
measurement finished), ChecksumError (a word's CRC is wrong).
"""
from micropython import const

from drivers import errors  # the error kinds are made on first use (errors.py)
from drivers.sensirion_crc import word_ok

_NAME = "sht3x"
_CMD_MEASURE_HIGH = const(0x2400)  # single shot, high repeatability, no clock stretching (table 9)
_CMD_READ_STATUS = const(0xF32D)  # table 17
_CMD_CLEAR_STATUS = const(0x3041)  # table 18
_CMD_SOFT_RESET = const(0x30A2)  # table 13
_CMD_HEATER_OFF = const(0x3066)  # table 15
_MEASURE_MS = const(15)  # t_MEAS max, high repeatability (table 4)
_RESET_MS = const(2)  # t_SR: soft reset time 1.5 ms max (table 4)
_ENODEV = const(19)  # errno for a NACK on ESP32's machine.I2C
_ETIMEDOUT = const(116)

# Status register bits (table 17).
STATUS_ALERT = const(0x8000)
STATUS_HEATER = const(0x2000)
STATUS_RESET = const(0x0010)  # system reset detected since the last clear
STATUS_COMMAND_FAILED = const(0x0002)
STATUS_WRITE_CRC_FAILED = const(0x0001)


class Reading:
    """Converted values; attributes, or keys: r.temperature == r["temperature"]."""

    def __init__(self):
        self.temperature = 0.0  # degC
        self.humidity = 0.0  # %RH

    def __getitem__(self, key):
        return getattr(self, key)


class SHT3x:
    def __init__(self, i2c, address=0x44, reset=False, check=True):
        """Check the sensor answers (status word with a valid CRC; `check=False` skips that read),
        switch the heater off and clear the status. `reset=True` soft-resets first (the caller then
        waits 2 ms before measuring)."""
        self._i2c = i2c
        self.address = address
        self._cmd = bytearray(2)
        self._buf = bytearray(6)
        self._status_buf = bytearray(3)
        self.raw = [0, 0]  # S_T, S_RH
        self._int = [0, 0]
        self.reading = Reading()
        if reset:
            self.soft_reset()
        if check:
            self.status()  # AbsentError / ChecksumError here tell the caller what is wrong
        self._command(_CMD_HEATER_OFF)
        self._command(_CMD_CLEAR_STATUS)

    def _command(self, cmd):
        c = self._cmd
        c[0] = cmd >> 8
        c[1] = cmd & 0xFF
        try:
            self._i2c.writeto(self.address, c)
        except OSError as e:
            if e.args and e.args[0] in (_ENODEV, _ETIMEDOUT):
                raise errors.AbsentError(_NAME, "no ack at I2C address 0x%02x" % self.address)
            raise

    def _read(self, buf):
        try:
            self._i2c.readfrom_into(self.address, buf)
        except OSError as e:
            if e.args and e.args[0] in (_ENODEV, _ETIMEDOUT):
                raise errors.SensorTimeout(_NAME, "read header not acked: no finished measurement")
            raise
        for at in range(0, len(buf), 3):
            if not word_ok(buf, at):
                raise errors.ChecksumError(_NAME, "CRC mismatch on word %d" % (at // 3))
        return buf

    def status(self):
        """The 16-bit status register (table 17)."""
        self._command(_CMD_READ_STATUS)
        b = self._read(self._status_buf)
        return (b[0] << 8) | b[1]

    def clear_status(self):
        self._command(_CMD_CLEAR_STATUS)

    def soft_reset(self):
        """Soft reset (section 4.9); returns the ms to wait before the next command."""
        self._command(_CMD_SOFT_RESET)
        return _RESET_MS

    def start_measurement(self):
        """Start one single-shot high-repeatability measurement; return the ms to wait."""
        self._command(_CMD_MEASURE_HIGH)
        return _MEASURE_MS

    def read_raw(self):
        """[S_T, S_RH] of the finished measurement, in a list reused by the next call."""
        b = self._read(self._buf)
        r = self.raw
        r[0] = (b[0] << 8) | b[1]
        r[1] = (b[3] << 8) | b[4]
        return r

    def compensate_int(self, raw):
        """[0.001 degC, 0.001 %RH] (floor of the datasheet formulas), list reused by the next call."""
        out = self._int
        out[0] = -45000 + (175000 * raw[0]) // 65535
        out[1] = (100000 * raw[1]) // 65535
        return out

    def compensate(self, raw):
        r = self.reading
        r.temperature = -45 + 175 * raw[0] / 65535
        r.humidity = 100 * raw[1] / 65535
        return r

    def read(self):
        return self.compensate(self.read_raw())
