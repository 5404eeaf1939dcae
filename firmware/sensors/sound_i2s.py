"""I2S MEMS microphones (INMP441, ICS-43434, SPH0645) in the sensor layer: LAeq, LAmin, LAmax.

During each averaging window a task reads the I2S stream continuously in chunks and feeds the noise
meter (noise/meter.py); at the end of the window the sensor reports LAeq over the window and the
lowest and highest Fast-weighted level in it, in dB(A). The first 250 ms of a window let the
A-weighting filter settle and are not counted. Between windows nothing reads the microphone; the
receive buffer, full of old sound by then, is drained first.

The task sleeps until a chunk has arrived and then reads it with a blocking readinto that returns at
once (the I2S driver already holds it), so the event loop is never held waiting for sound. When the
loop was busy for longer than the receive buffer lasts (board.py: `ibuf`), samples were lost: the
levels are then flagged `few_samples`. A window with samples at the microphone's largest code is
flagged `overload` (never clamped). A dead data line (no clock, microphone unplugged) is reported as
the error `absent`.

Kit sensor entry: {"type": "inmp441" | "ics43434" | "sph0645", "bus": "<an i2s bus>",
"calibration_db": 0.0 (added to every level: the device's offset against a reference meter, usually
set in the device's own config), "quirk": true|false (SPH0645 only, see drivers/sph0645.py)}.
Specified range: from the datasheet noise floor (33 dB(A) INMP441, 29 dB(A) ICS-43434 and SPH0645)
to the acoustic overload point, 120 dB SPL (kits/sensors.json).
"""
import asyncio
import time
from array import array

from drivers.errors import SensorError
from sensors.window import Window

QUANTITIES = ("noise_laeq", "noise_lamin", "noise_lamax")
_SCALES = (100, 100, 100)  # levels are added in 0.01 dB
_OVERLOAD_DB = 120
_CHUNK = 256  # samples per read: 5.3 ms at 48 kHz, 16 ms at 16 kHz
_SETTLE_MS = 250
WARMUP_S = 0


class Sensor:
    def __init__(self, entry, bus, warmup_s=None):
        kind = entry["type"]
        # One driver module per microphone, named after the type, its class the type in capitals
        # (drivers/inmp441.py: INMP441); the class also carries the chip's noise floor.
        chip = getattr(__import__("drivers." + kind, None, None, ("NAME",)), kind.upper())
        floor = chip.NOISE_FLOOR_DB
        self.win = Window(kind, QUANTITIES, _SCALES, ((floor, _OVERLOAD_DB),) * 3)
        self.warmup_ms = int((WARMUP_S if warmup_s is None else warmup_s) * 1000)
        import board  # only here: the app may unload board.py once the sensors are built

        self._rate = entry.get("rate") or board.rate_of(bus) or getattr(bus, "rate", None)
        # the receive buffer, in 32-bit words
        self._ibuf_words = (getattr(bus, "ibuf", None) or board.ibuf_of(bus)) // 4
        self._drv = None
        if bus is not None:
            self._drv = chip(bus, entry.get("quirk"))
        self._meter = None
        if self._drv is not None and self._rate:
            # Built with the app, while the heap is in one piece: begin() would load noise/meter.py
            # in the middle of the first cycle, between the link's buffers and the reading's objects.
            from noise.meter import NoiseMeter

            self._meter = NoiseMeter(self._rate, float(entry.get("calibration_db", 0.0)))
        self._task = None
        self._words = None  # the chunk buffer, during a window only (start_window)
        self._error = None
        self._clipped = 0
        self._lost = False

    def planned(self, average_ms, period_ms):
        return 1  # one set of levels per window

    def begin(self):
        if self._meter is None:  # built only with a bus and a sample rate (__init__)
            self.win.error("absent")
            return False
        return True

    def start_window(self):
        self._error = None
        self._clipped = 0
        self._lost = False
        # The chunk buffer exists only during a window: end() lets go of it before the app spools
        # and publishes the reading, so that its 1 KB is free for them. Made from a range, not from
        # bytes(), so that no second 1 KB object is needed for a moment (every read overwrites it).
        self._words = array("i", range(_CHUNK))
        self._task = asyncio.create_task(self._run())

    async def sample(self):
        pass  # the reading task runs on its own during the window

    def _chunk(self):
        drv = self._drv
        words = self._words
        n = drv.read_raw(words)
        self._clipped += drv.convert(words, n)
        return n

    async def _run(self):
        meter = self._meter
        rate = self._rate
        try:
            # Drain the receive buffer (old sound), one chunk per turn of the event loop.
            for _ in range(self._ibuf_words // _CHUNK + 1):
                self._chunk()
                await asyncio.sleep_ms(0)
            meter.reset()
            t0 = time.ticks_us()
            consumed = 0
            settle = rate * _SETTLE_MS // 1000
            settled = False
            capacity = self._ibuf_words
            while True:
                arrived = time.ticks_diff(time.ticks_us(), t0) * rate // 1000000
                owed = arrived - consumed
                if owed > capacity:
                    self._lost = True  # the loop was away longer than the buffer lasts
                    consumed = arrived - capacity
                    owed = capacity
                if owed < _CHUNK:
                    await asyncio.sleep_ms((_CHUNK - owed) * 1000 // rate + 1)
                    continue
                n = self._chunk()
                meter.process(self._words, n)
                consumed += n
                if not settled and consumed >= settle:
                    meter.take()  # the filter's settling is not part of the window
                    meter.restart_fast()
                    self._clipped = 0
                    settled = True
                await asyncio.sleep_ms(0)
        except SensorError as e:
            self._error = e.kind
        except OSError:
            self._error = "absent"

    def end(self):
        task = self._task
        self._task = None
        if task is not None:
            task.cancel()  # it stops at its next await, and no longer reads the buffer
        self._words = None
        win = self.win
        if self._error is not None:
            win.error(self._error)
            return
        levels = self._meter.take()
        if levels is None or levels[0] is None:
            win.error("timeout")  # no sound data came in the window
            return
        for i in range(3):
            v = levels[i]
            if v is None:
                continue
            win.add(i, int(v * 100 + (0.5 if v >= 0 else -0.5)))
            if self._clipped:
                win.flag(i, "overload")
            if self._lost:
                win.flag(i, "few_samples")

