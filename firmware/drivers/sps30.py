"""Sensirion SPS30 particulate sensor over I2C (address 0x69, at most 100 kHz).

From the Sensirion "Datasheet SPS30" version 1.0 (March 2020), section 6 (I2C interface).

A command is a 16-bit pointer written big-endian. Data travels as 2-byte words, each followed by a
CRC-8 (polynomial 0x31, init 0xFF, no reflection, final XOR 0x00; check value CRC(BE EF) = 0x92,
section 6.2). Commands used here (section 6.3):
    0x0010 start measurement, argument word 0x0300: big-endian IEEE754 float output   (20 ms)
    0x0104 stop measurement                                                            (20 ms)
    0x0202 read data-ready flag: one word, 0x0001 when new values are ready
    0x0300 read measured values: ten floats (60 bytes with CRCs), in this order:
           mass PM1.0, PM2.5, PM4.0, PM10 (ug/m3); number PM0.5, PM1.0, PM2.5, PM4.0, PM10 (#/cm3);
           typical particle size (um). "PMx" means particles smaller than x um.
    0x1001 sleep (from idle only; the interface switches off)                          (5 ms)
    0x1103 wake-up: the sleeping interface ignores (does not ack) the first transfer, which
           wakes it; the wake-up command must then follow within 100 ms                (5 ms)
    0x5607 start fan cleaning (measurement mode only; the fan runs at full speed 10 s) (5 ms)
    0xD002 read product type: "00080000" as ASCII, 8 characters in 4 words + CRCs
    0xD206 read device status register (32 bits: bit 21 fan speed, bit 5 laser, bit 4 fan)
    0xD304 device reset                                                                (100 ms)

Raw and converted reads are separate: `read_raw()` checks the CRCs and leaves the 40 data bytes in a
preallocated buffer; `convert_fixed()` turns them into integers in fixed point without floats (so
a read allocates nothing on the ESP32, where floats live on the heap); `read()` gives floats.
The driver never sleeps: methods that need time return how many ms to wait.
"""
from micropython import const

import struct

from drivers import errors  # the error kinds are made on first use (errors.py)

ADDRESS = const(0x69)
_CMD_START = const(0x0010)
_CMD_STOP = const(0x0104)
_CMD_DATA_READY = const(0x0202)
_CMD_READ_VALUES = const(0x0300)
_CMD_SLEEP = const(0x1001)
_CMD_WAKE_UP = const(0x1103)
_CMD_FAN_CLEANING = const(0x5607)
_CMD_PRODUCT_TYPE = const(0xD002)
_CMD_STATUS = const(0xD206)
_CMD_RESET = const(0xD304)
_FORMAT_FLOAT = const(0x0300)  # section 6.3.1: 0x03 = big-endian IEEE754 float, 0x00 dummy byte
_ENODEV = const(19)  # errno MicroPython raises for an I2C address that does not ack
N_VALUES = const(10)
_PRODUCT_TYPE = b"00080000"  # section 6.3.11

# Execution times, section 6.3 (ms).
START_MS = const(20)
STOP_MS = const(20)
SLEEP_MS = const(5)
WAKE_MS = const(5)
CLEANING_MS = const(10000)  # section 4.2: the fan cleaning lasts 10 s
RESET_MS = const(100)

_NAME = "sps30"


def crc8(buf, start=0, n=2):
    """Sensirion CRC-8 over buf[start:start+n] (poly 0x31, init 0xFF): CRC(b"\\xbe\\xef") == 0x92."""
    crc = 0xFF
    for i in range(start, start + n):
        crc ^= buf[i]
        for _ in range(8):
            if crc & 0x80:
                crc = ((crc << 1) ^ 0x31) & 0xFF
            else:
                crc = (crc << 1) & 0xFF
    return crc


def fixed_from_float_bits(b0, b1, b2, b3, scale):
    """round(value * scale) of the big-endian IEEE754 single b0..b3, in integers only.

    `scale` must stay below 2**10 so the intermediate product fits a 31-bit small int (no heap use on
    the ESP32). Raises InvalidDataError for an infinity or a NaN."""
    exp = ((b0 & 0x7F) << 1) | (b1 >> 7)
    mant = ((b1 & 0x7F) << 16) | (b2 << 8) | b3
    if exp == 0xFF:
        raise errors.InvalidDataError(_NAME, "not a number in the measured values")
    if exp == 0:
        return 0  # zero or subnormal (below 1e-38): zero at any of our scales
    mant |= 0x800000  # the implicit leading bit; value = mant * 2**(exp - 150)
    shift = 150 - exp
    if shift <= 0:
        v = (mant * scale) << -shift  # above 2**23: not a PM value, but kept as measured
    elif shift >= 40:
        v = 0
    elif shift > 4:
        # Drop 4 mantissa bits first so mant * scale stays below 2**30 (relative error 2**-20).
        m = (mant >> 4) * scale
        s = shift - 4
        v = (m + (1 << (s - 1))) >> s
    else:
        m = mant * scale
        v = (m + (1 << (shift - 1))) >> shift
    return -v if b0 & 0x80 else v


class SPS30:
    def __init__(self, i2c, address=ADDRESS, check_type=True):
        """Raises AbsentError when nothing answers at `address`, or a chip that is not an SPS30."""
        self._i2c = i2c
        self.address = address
        self._cmd = bytearray(2)
        self._cmd_arg = bytearray(5)
        self._word = bytearray(3)
        self._rx = bytearray(6 * N_VALUES)  # ten floats: 2 words of 3 bytes each
        self._data = bytearray(4 * N_VALUES)  # the same without CRCs
        self._type = bytearray(12)
        self.crc_errors = 0
        if check_type:
            t = self.product_type()
            if t != _PRODUCT_TYPE:
                raise errors.AbsentError(_NAME, "product type %r at 0x%02x, expected %r" % (t, address, _PRODUCT_TYPE))

    # -- transfers -----------------------------------------------------------------------------

    # Two wrappers rather than one taking the bus method: passing `self._i2c.writeto` around would
    # allocate a bound-method object on every transfer.
    def _writeto(self, buf):
        try:
            self._i2c.writeto(self.address, buf)
        except OSError as e:
            self._raise(e)

    def _readinto(self, buf):
        try:
            self._i2c.readfrom_into(self.address, buf)
        except OSError as e:
            self._raise(e)

    def _raise(self, e):
        if e.args and e.args[0] == _ENODEV:
            raise errors.AbsentError(_NAME, "no ack at I2C address 0x%02x" % self.address)
        raise e

    def _write(self, cmd):
        c = self._cmd
        c[0] = cmd >> 8
        c[1] = cmd & 0xFF
        self._writeto(c)

    def _write_word(self, cmd, word):
        c = self._cmd_arg
        c[0] = cmd >> 8
        c[1] = cmd & 0xFF
        c[2] = word >> 8
        c[3] = word & 0xFF
        c[4] = crc8(c, 2)
        self._writeto(c)

    def _read(self, cmd, buf):
        """Set the pointer, read `buf` (3-byte groups), check every CRC."""
        self._write(cmd)
        self._readinto(buf)
        for i in range(0, len(buf), 3):
            if crc8(buf, i) != buf[i + 2]:
                self.crc_errors += 1
                raise errors.ChecksumError(_NAME, "CRC of word %d after command 0x%04x" % (i // 3, cmd))

    # -- commands ------------------------------------------------------------------------------

    def product_type(self):
        self._read(_CMD_PRODUCT_TYPE, self._type)
        t = self._type
        return bytes((t[0], t[1], t[3], t[4], t[6], t[7], t[9], t[10]))

    def start_measurement(self):
        """Enter measurement mode with float output (fan and laser on); return the ms to wait."""
        self._write_word(_CMD_START, _FORMAT_FLOAT)
        return START_MS

    def stop_measurement(self):
        """Back to idle (fan and laser off); return the ms to wait."""
        self._write(_CMD_STOP)
        return STOP_MS

    def data_ready(self):
        """True when a new set of measured values is ready (one per second while measuring)."""
        w = self._word
        self._read(_CMD_DATA_READY, w)
        return w[1] == 1

    def start_fan_cleaning(self):
        """Blow the fan at full speed for 10 s (measurement mode only); return the ms it lasts."""
        self._write(_CMD_FAN_CLEANING)
        return CLEANING_MS

    def sleep(self):
        """Idle -> sleep (about 38 uA, interface off); return the ms to wait."""
        self._write(_CMD_SLEEP)
        return SLEEP_MS

    def wake_up(self):
        """Sleep -> idle: one transfer to wake the interface (a sleeping chip does not ack it, an
        awake one simply gets a harmless extra wake-up), then the wake-up command; return ms to wait.
        Raises AbsentError when the chip does not ack the second transfer either."""
        try:
            self._write(_CMD_WAKE_UP)
        except errors.AbsentError:
            pass
        self._write(_CMD_WAKE_UP)
        return WAKE_MS

    def reset(self):
        """Device reset (back to idle, settings kept); return the ms to wait."""
        self._write(_CMD_RESET)
        return RESET_MS

    def status(self):
        """The 32-bit device status register (bit 21 fan speed warning, bit 5 laser error, bit 4 fan
        error)."""
        b = self._rx
        self._read(_CMD_STATUS, memoryview(b)[:6])
        return (b[0] << 24) | (b[1] << 16) | (b[3] << 8) | b[4]

    # -- measured values -----------------------------------------------------------------------

    def read_raw(self):
        """Read the ten measured values; return the 40 data bytes (CRCs checked and stripped).

        The buffer is reused by the next read. Raises ChecksumError when any word fails its CRC."""
        rx = self._rx
        self._read(_CMD_READ_VALUES, rx)
        d = self._data
        j = 0
        for i in range(0, 6 * N_VALUES, 3):
            d[j] = rx[i]
            d[j + 1] = rx[i + 1]
            j += 2
        return d

    def convert_fixed(self, data, out, scales):
        """out[i] = round(value_i * scales[i]) for the ten values, integers only (no allocation)."""
        for i in range(N_VALUES):
            k = 4 * i
            out[i] = fixed_from_float_bits(data[k], data[k + 1], data[k + 2], data[k + 3], scales[i])
        return out

    def read(self):
        """The ten values as floats, in the order of the module docstring (allocates a tuple)."""
        return struct.unpack(">10f", self.read_raw())
