"""Plantower PMS5003 / PMS7003 particulate sensors over UART (9600 baud, 8N1).

From the "PMS5003 series data manual" V2.3 (Plantower, 2016) and the PMS7003 data manual V2.5, whose
transport protocol is the same:

Frames the sensor sends, big-endian words:
    42 4D LenH LenL D1..D13 CkH CkL      data frame: 32 bytes, Len = 2*13 + 2 = 28
    42 4D 00 04 CMD DATA CkH CkL         answer to a mode or sleep command (8 bytes)
    Ck = 16-bit sum of every byte before it (start characters included).
Data words (appendix I):
    D1..D3   PM1.0, PM2.5, PM10 in ug/m3, "CF=1, standard particle" (factory environment)
    D4..D6   PM1.0, PM2.5, PM10 in ug/m3, "under atmospheric environment"
    D7..D12  number of particles beyond 0.3, 0.5, 1.0, 2.5, 5.0, 10 um in 0.1 L of air
    D13      reserved (PMS7003: version in the high byte, error code in the low byte)
Commands we send (7 bytes): 42 4D CMD DATAH DATAL CkH CkL, Ck = 16-bit sum of the first five bytes:
    E2 00 00   read in passive mode (the answer is one data frame)
    E1 00 00/01  change mode: passive / active (active is the power-up default)
    E4 00 00/01  sleep / wake up (the fan and laser stop while asleep)

The kit reports the atmospheric-environment masses (D4..D6): Plantower meant those for ambient air,
and the CF=1 values for its factory calibration dust. Both stay available in `raw` (see RAW_*), e.g.
for the PurpleAir/EPA corrections, which are fitted on CF=1 PM2.5.

The counts are per 0.1 L, i.e. per decilitre: the quantity ids pn_gt* carry them in 1/dL unchanged.
Counts are cumulative (the >0.5 um count includes the >10 um particles).

The parser is non-blocking like drivers/sds011.py: each call consumes what `uart.any()` holds, keeps a
partial frame across calls, and resynchronises on 42 4D after garbage or a bad frame.
"""
from micropython import const

import time

from drivers import errors  # the error kinds are made on first use (errors.py)

_START1 = const(0x42)
_START2 = const(0x4D)
_DATA_LEN = const(28)  # 2 * 13 data words + 2 checksum bytes
_ANSWER_LEN = const(4)
_FRAME = const(32)
_ANSWER = const(8)
_RX = const(32)  # bytes pulled from the UART per readinto

_CMD_READ = const(0xE2)
_CMD_MODE = const(0xE1)
_CMD_SLEEP = const(0xE4)

# Indexes into `raw` (the 13 data words of the last good data frame).
RAW_PM1_CF1 = const(0)
RAW_PM2_5_CF1 = const(1)
RAW_PM10_CF1 = const(2)
RAW_PM1 = const(3)  # atmospheric environment
RAW_PM2_5 = const(4)
RAW_PM10 = const(5)
RAW_GT0_3 = const(6)  # counts per 0.1 L
RAW_GT0_5 = const(7)
RAW_GT1_0 = const(8)
RAW_GT2_5 = const(9)
RAW_GT5_0 = const(10)
RAW_GT10 = const(11)
RAW_RESERVED = const(12)

# Data manual: single response time < 1 s, and in active mode a frame at least every 2.3 s; three
# seconds without a frame means nothing is talking to us.
_DEFAULT_TIMEOUT_MS = const(3000)


class PMS5003:
    """One PMS5003 or PMS7003 on `uart` (a machine.UART at 9600 baud, non-blocking reads)."""

    def __init__(self, uart, timeout_ms=_DEFAULT_TIMEOUT_MS, name="pms5003"):
        self._uart = uart
        self.name = name
        self.timeout_ms = timeout_ms
        self._rx = bytearray(_RX)
        self._rx_n = 0
        self._rx_pos = 0
        self._f = bytearray(_FRAME)  # frame being assembled
        self._n = 0
        self._want = _FRAME  # length of the frame being assembled, known after its length bytes
        self._cmd = bytearray(7)
        self.raw = [0] * 13  # data words of the last good data frame
        self.answer = bytearray(_ANSWER)  # last command answer (42 4D 00 04 ...)
        self.answers = 0
        self.checksum_errors = 0
        self._bad = False  # set by _push when a frame fails its checksum
        self._pending = False  # a read request is waiting for its frame
        self._last_ms = time.ticks_ms()

    # -- commands ------------------------------------------------------------------------------

    def _command(self, cmd, data):
        c = self._cmd
        c[0] = _START1
        c[1] = _START2
        c[2] = cmd
        c[3] = data >> 8
        c[4] = data & 0xFF
        s = _START1 + _START2 + cmd + (data >> 8) + (data & 0xFF)
        c[5] = s >> 8
        c[6] = s & 0xFF
        self._uart.write(c)

    def set_passive(self, passive=True):
        """Passive: a data frame only after `request_read()`. Active: frames stream on their own."""
        self._command(_CMD_MODE, 0 if passive else 1)

    def request_read(self):
        """Ask for one data frame (passive mode). The data timeout runs from the oldest unanswered
        request, so a sensor that never answers times out however often it is asked."""
        self._command(_CMD_READ, 0)
        if not self._pending:
            self._pending = True
            self._last_ms = time.ticks_ms()

    def sleep(self):
        """Stop the fan and laser: the fan wears, so it runs only to measure."""
        self._command(_CMD_SLEEP, 0)

    def wake(self):
        """Start the fan and laser. Stable data only 30 s later (data manual, "other attentions")."""
        self._command(_CMD_SLEEP, 1)
        self._last_ms = time.ticks_ms()

    # -- reading -------------------------------------------------------------------------------

    def flush(self):
        """Forget bytes received so far (frames from the warm-up); restarts the timeout."""
        try:
            while self.read_raw() is not None:
                pass
        except errors.ChecksumError:
            pass
        self._rx_n = self._rx_pos = 0
        while self._uart.any():
            if not self._uart.readinto(self._rx):
                break
        self._n = 0
        self._pending = False
        self._last_ms = time.ticks_ms()

    def read_raw(self):
        """Parse what the UART holds; return `self.raw` (13 ints, see RAW_*) after the next good data
        frame, or None when no complete frame is buffered.

        The list is overwritten by the next frame: copy what you keep. Raises ChecksumError for a
        frame that fails its checksum (dropped; parsing goes on at the next call) and SensorTimeout
        when no data frame arrived for `timeout_ms` after the last frame or request.
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
            got = self._push(b)
            if self._bad:
                self._bad = False
                self.checksum_errors += 1
                raise errors.ChecksumError(self.name, "frame checksum")
            if got:
                self._last_ms = time.ticks_ms()
                self._pending = False
                return self.raw
        if time.ticks_diff(time.ticks_ms(), self._last_ms) > self.timeout_ms:
            raise errors.SensorTimeout(self.name, "no data frame for %d ms" % self.timeout_ms)
        return None

    def read(self):
        """Converted values of the next frame, or None: (pm1, pm2_5, pm10) in ug/m3 (atmospheric
        environment) and the six counts in particles per 0.1 L (= per dL), as a 9-tuple of ints."""
        r = self.read_raw()
        if r is None:
            return None
        return convert(r)

    def _push(self, b):
        """Feed one byte; True when it completes a good data frame. Sets self._bad on a checksum
        failure (a flag rather than an exception, so a rescan never loses the bytes behind it)."""
        f = self._f
        n = self._n
        if n == 0:
            if b == _START1:
                f[0] = b
                self._n = 1
            return False
        if n == 1:
            if b == _START2:
                f[1] = b
                self._n = 2
            elif b != _START1:
                self._n = 0
            return False  # a second 42 may be the real start: keep it as byte 0
        f[n] = b
        n += 1
        self._n = n
        if n == 4:
            length = (f[2] << 8) | f[3]
            if length == _DATA_LEN:
                self._want = _FRAME
            elif length == _ANSWER_LEN:
                self._want = _ANSWER
            else:
                self._rescan(4)
            return False
        if n < 4 or n < self._want:
            return False
        want = self._want
        s = 0
        for i in range(want - 2):
            s += f[i]
        if (s & 0xFFFF) != ((f[want - 2] << 8) | f[want - 1]):
            self._bad = True
            self._rescan(want)
            return False
        self._n = 0
        if want == _ANSWER:
            for i in range(_ANSWER):
                self.answer[i] = f[i]
            self.answers += 1
            return False
        raw = self.raw
        for i in range(13):
            raw[i] = (f[4 + 2 * i] << 8) | f[5 + 2 * i]
        return True

    def _rescan(self, length):
        # Drop the first byte of the failed candidate and feed the rest again. The write index stays
        # behind the read index, so rewriting _f in place is safe; fewer bytes than a data frame
        # cannot complete one, and a short answer found inside is kept.
        f = self._f
        self._n = 0
        bad = self._bad
        for i in range(1, length):
            self._push(f[i])
        self._bad = bad  # a broken frame inside a broken frame is the same loss: count it once


def convert(raw):
    """(pm1, pm2_5, pm10, gt0_3, gt0_5, gt1_0, gt2_5, gt5_0, gt10) from the 13 raw words: masses in
    ug/m3 (atmospheric environment, D4..D6), counts per 0.1 L (D7..D12). Already in final units."""
    return (raw[RAW_PM1], raw[RAW_PM2_5], raw[RAW_PM10], raw[RAW_GT0_3], raw[RAW_GT0_5], raw[RAW_GT1_0],
            raw[RAW_GT2_5], raw[RAW_GT5_0], raw[RAW_GT10])
