"""SPS30 in the sensor layer: wake and measure only around a window, sleep in between.

Each cycle: wake-up, start measurement (fan and laser on), warm-up, then each sample takes the new
values when the data-ready flag says so (the SPS30 makes one set per second, whatever we ask);
stop and sleep at the end. Values are added to the window in fixed point (driver.convert_fixed), so
sampling allocates nothing.

Fan cleaning: the SPS30 cleans itself every 604,800 s (one week) of measuring, but its counter
restarts when it sleeps (datasheet 1.0, section 4.2), so with a duty cycle it would never clean. This
layer starts a cleaning itself during the warm-up once `fan_cleaning_interval_s` (kit entry; default
one week) of uptime has passed since the last one, and lengthens that warm-up to the 10 s it lasts.

Specified ranges (datasheet 1.0, table 1): mass concentration 0-1000 ug/m3, number concentration
0-3000 #/cm3, particle sizes 0.3-10 um. Start-up time: 8 s to the first reading at 200-3000 #/cm3,
up to 30 s at 50-100 #/cm3, hence a 30 s default warm-up (kits/sensors.json).
"""
import asyncio
import time

from drivers.errors import SensorError
from drivers.sps30 import ADDRESS, CLEANING_MS, N_VALUES, SPS30
from sensors.window import Window

# Driver order: mass PM1, PM2.5, PM4, PM10; number PM0.5, PM1, PM2.5, PM4, PM10; typical size.
QUANTITIES = ("pm1", "pm2_5", "pm4", "pm10", "pn_lt0_5", "pn_lt1_0", "pn_lt2_5", "pn_lt4_0", "pn_lt10",
              "typical_particle_size")
# Fixed point: 0.01 ug/m3, 0.01 #/cm3, 0.001 um (one decimal more than the wire keeps).
_SCALES = (100, 100, 100, 100, 100, 100, 100, 100, 100, 1000)
_MASS = (0, 1000)
_NUMBER = (0, 3000)
_RANGES = (_MASS, _MASS, _MASS, _MASS, _NUMBER, _NUMBER, _NUMBER, _NUMBER, _NUMBER, (0.3, 10))
WARMUP_S = 30
_FRAME_MS = 1000  # one set of measured values per second (datasheet table 1, sampling interval)
_WEEK_S = 604800


class Sensor:
    def __init__(self, entry, bus, warmup_s=None):
        self.win = Window("sps30", QUANTITIES, _SCALES, _RANGES)
        self._warmup_ms = int((WARMUP_S if warmup_s is None else warmup_s) * 1000)
        self.warmup_ms = self._warmup_ms
        self._bus = bus
        self._address = entry.get("address", ADDRESS)
        self._clean_every_ms = int(entry.get("fan_cleaning_interval_s", _WEEK_S) * 1000)
        self._cleaned_at = time.ticks_ms()
        self._drv = None
        self._fixed = [0] * N_VALUES
        self._measuring = False
        self.cleanings = 0

    def planned(self, average_ms, period_ms):
        return max(1, average_ms // _FRAME_MS)

    def _lost(self, kind):
        self.win.error(kind)
        if kind == "absent":
            self._drv = None  # look for it again next cycle
            self._measuring = False

    async def begin(self):
        self.warmup_ms = self._warmup_ms
        if self._bus is None:
            self.win.error("absent")
            return False
        try:
            if self._drv is None:
                # A chip found asleep (after a reboot of ours, not of its own) does not ack: wake it
                # before looking at its product type.
                drv = SPS30(self._bus, self._address, check_type=False)
                await asyncio.sleep_ms(drv.wake_up())
                self._drv = SPS30(self._bus, self._address)
            else:
                await asyncio.sleep_ms(self._drv.wake_up())
            await asyncio.sleep_ms(self._drv.start_measurement())
            self._measuring = True
            if time.ticks_diff(time.ticks_ms(), self._cleaned_at) >= self._clean_every_ms:
                self._drv.start_fan_cleaning()
                self._cleaned_at = time.ticks_ms()
                self.cleanings += 1
                if self.warmup_ms < CLEANING_MS + 1000:
                    self.warmup_ms = CLEANING_MS + 1000  # values made while cleaning are not kept
        except SensorError as e:
            self._lost(e.kind)
            return False
        except OSError:
            self._lost("absent")
            return False
        return True

    def start_window(self):
        drv = self._drv
        if drv is None:
            return
        try:
            if drv.data_ready():
                drv.read_raw()  # a set from the warm-up: not stable yet
        except SensorError as e:
            self._lost(e.kind)
        except OSError:
            self._lost("absent")

    async def sample(self):
        drv = self._drv
        if drv is None:
            return
        win = self.win
        try:
            if not drv.data_ready():
                return
            f = drv.convert_fixed(drv.read_raw(), self._fixed, _SCALES)
        except SensorError as e:
            self._lost(e.kind)
            return
        except OSError:
            self._lost("absent")
            return
        for i in range(N_VALUES):
            win.add(i, f[i])

    async def end(self):
        drv = self._drv
        if drv is None or not self._measuring:
            return
        self._measuring = False
        try:
            await asyncio.sleep_ms(drv.stop_measurement())
            await asyncio.sleep_ms(drv.sleep())
        except SensorError as e:
            self._lost(e.kind)
        except OSError:
            self._lost("absent")
