"""Nova Fitness SDS011 particulate sensor over UART (9600 baud, 8N1).

From "Laser Dust Sensor Control Protocol V1.3" (Nova Fitness) and the SDS011 datasheet V1.3.

Frames the sensor sends (10 bytes):
    AA C0 PM25lo PM25hi PM10lo PM10hi ID1 ID2 CS AB    data; value / 10 = ug/m3
    AA C5 CMD D2 D3 D4 ID1 ID2 CS AB                   reply to a command
    CS = low byte of the sum of bytes 2..7 (the six data bytes).
Frames we send (19 bytes):
    AA B4 D1..D15 CS AB, CS = low byte of the sum of D1..D15, D14 D15 = device id (FF FF = any).

The parser is non-blocking: each call consumes what `uart.any()` holds, keeps a partial frame across
calls, and resynchronises on the AA header after garbage or a bad frame (it drops the first byte of a
failed candidate and rescans the rest, so a valid frame hidden behind a false start is never lost).
"""
from micropython import const

import time

from drivers import errors  # the error kinds are made on first use (errors.py)

_HEAD = const(0xAA)
_TAIL = const(0xAB)
_CMD_OUT = const(0xB4)  # host -> sensor command id
_DATA = const(0xC0)  # sensor -> host data frame
_REPLY = const(0xC5)  # sensor -> host command reply
_FRAME_LEN = const(10)
_CMD_LEN = const(19)
_RX_LEN = const(32)  # bytes pulled from the UART per readinto

# Command numbers (protocol V1.3, D1 of the command frame).
_SET_REPORTING_MODE = const(2)
_QUERY_DATA = const(4)
_SET_SLEEP_WORK = const(6)
_FIRMWARE_VERSION = const(7)
_SET_WORKING_PERIOD = const(8)

# Datasheet: the sensor outputs one data frame per second in active mode; three missed frames
# mean it is not talking to us.
_DEFAULT_TIMEOUT_MS = const(3000)

_NAME = "sds011"


class SDS011:
    def __init__(self, uart, timeout_ms=_DEFAULT_TIMEOUT_MS, device_id=0xFFFF):
        self._uart = uart
        self.timeout_ms = timeout_ms
        self._target = device_id
        self._rx = bytearray(_RX_LEN)
        self._rx_n = 0  # bytes valid in _rx
        self._rx_pos = 0  # next byte of _rx to parse
        self._f = bytearray(_FRAME_LEN)  # frame being assembled
        self._n = 0  # bytes in _f
        self._cmd = bytearray(_CMD_LEN)
        self.reply = bytearray(_FRAME_LEN)  # last reply frame (AA C5 ...), for inspection
        self.replies = 0  # count of reply frames seen
        self.device_id = None  # ID1 << 8 | ID2 from the last good frame
        self.pm2_5_x10 = 0  # last data frame, in 0.1 ug/m3
        self.pm10_x10 = 0
        self.checksum_errors = 0
        self._last_ms = time.ticks_ms()

    # -- commands ------------------------------------------------------------------------------

    def _command(self, d1, d2=0, d3=0):
        c = self._cmd
        for i in range(_CMD_LEN):
            c[i] = 0
        c[0] = _HEAD
        c[1] = _CMD_OUT
        c[2] = d1
        c[3] = d2
        c[4] = d3
        c[15] = self._target >> 8
        c[16] = self._target & 0xFF
        s = 0
        for i in range(2, 17):
            s += c[i]
        c[17] = s & 0xFF
        c[18] = _TAIL
        self._uart.write(c)

    def wake(self):
        """Start the fan and laser (set work); restarts the data timeout."""
        self._command(_SET_SLEEP_WORK, 1, 1)
        self._last_ms = time.ticks_ms()

    def sleep(self):
        """Stop the fan and laser (set sleep): the fan's life is 8000 h, so it runs only to measure."""
        self._command(_SET_SLEEP_WORK, 1, 0)

    def set_reporting_mode(self, active=True):
        """Active: one data frame per second while awake. Query: data only after `query()`."""
        self._command(_SET_REPORTING_MODE, 1, 0 if active else 1)

    def query(self):
        """Ask for one data frame (query reporting mode)."""
        self._command(_QUERY_DATA)

    def set_working_period(self, minutes):
        """0 = continuous; 1..30 = work 30 s every n minutes (done by the sensor itself)."""
        self._command(_SET_WORKING_PERIOD, 1, minutes)

    def request_firmware_version(self):
        """The reply frame (AA C5 07 year month day ...) lands in `self.reply`."""
        self._command(_FIRMWARE_VERSION)

    # -- reading -------------------------------------------------------------------------------

    def flush(self):
        """Forget bytes received so far (e.g. frames from the warm-up); restarts the timeout."""
        try:
            while self.read_raw() is not None:
                pass
        except errors.ChecksumError:
            pass
        self._last_ms = time.ticks_ms()

    def read_raw(self):
        """Parse what the UART holds; return (pm2_5_x10, pm10_x10) from the next data frame, or None.

        Values are in 0.1 ug/m3. Bytes after the returned frame stay buffered for the next call.
        Raises ChecksumError for a frame that fails its checksum (the frame is dropped, parsing goes on
        at the next call) and SensorTimeout when no data frame arrived for `timeout_ms`.
        """
        uart = self._uart
        while True:
            if self._rx_pos >= self._rx_n:
                self._rx_pos = 0
                self._rx_n = 0
                if not uart.any():
                    break
                n = uart.readinto(self._rx)
                if not n:
                    break
                self._rx_n = n
            b = self._rx[self._rx_pos]
            self._rx_pos += 1
            if self._push(b):
                self._last_ms = time.ticks_ms()
                return self.pm2_5_x10, self.pm10_x10
        if time.ticks_diff(time.ticks_ms(), self._last_ms) > self.timeout_ms:
            raise errors.SensorTimeout(_NAME, "no data frame for %d ms" % self.timeout_ms)
        return None

    def read(self):
        """Like read_raw() but in ug/m3: (pm2_5, pm10) or None."""
        r = self.read_raw()
        if r is None:
            return None
        return r[0] / 10, r[1] / 10

    def _push(self, b):
        """Feed one byte; return True when it completes a good data frame."""
        f = self._f
        n = self._n
        if n == 0:
            if b == _HEAD:
                f[0] = b
                self._n = 1
            return False
        if n == 1:
            if b == _DATA or b == _REPLY:
                f[1] = b
                self._n = 2
            elif b != _HEAD:
                self._n = 0
            # a second AA: it may be the real header, keep it as byte 0
            return False
        f[n] = b
        n += 1
        self._n = n
        if n < _FRAME_LEN:
            return False
        if f[9] != _TAIL:
            self._rescan()
            return False
        s = 0
        for i in range(2, 8):
            s += f[i]
        if s & 0xFF != f[8]:
            self.checksum_errors += 1
            self._rescan()
            raise errors.ChecksumError(_NAME, "frame checksum")
        self._n = 0
        self.device_id = (f[6] << 8) | f[7]
        if f[1] == _REPLY:
            self.reply[:] = f
            self.replies += 1
            return False
        self.pm2_5_x10 = f[2] | (f[3] << 8)
        self.pm10_x10 = f[4] | (f[5] << 8)
        return True

    def _rescan(self):
        # Drop the first byte of the failed candidate and feed the other nine again. The write index
        # stays behind the read index, so rewriting _f in place is safe, and nine bytes cannot
        # complete a frame, so this never recurses more than one level.
        f = self._f
        self._n = 0
        for i in range(1, _FRAME_LEN):
            self._push(f[i])
