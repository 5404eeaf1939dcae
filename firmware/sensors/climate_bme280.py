"""BME280 in the sensor layer: one forced-mode conversion per sample, no warm-up.

Specified (operating) range: -40..85 degC, 300..1100 hPa, 0..100 %RH (Bosch BST-BME280-DS002,
table 1; also kits/sensors.json). An absent chip is looked for again every cycle, so a citizen can
plug it back in without a reboot.
"""
import asyncio

from drivers.bme280 import BME280
from drivers.errors import SensorError
from sensors.window import Window

QUANTITIES = ("temperature", "humidity", "pressure")
# Driver integer units: 0.01 degC, %RH * 1024, Pa * 256 (= hPa * 25600).
_SCALES = (100, 1024, 25600)
_RANGES = ((-40, 85), (0, 100), (300, 1100))
WARMUP_S = 0


class Sensor:
    def __init__(self, entry, bus, warmup_s=None):
        self.win = Window("bme280", QUANTITIES, _SCALES, _RANGES)
        self.warmup_ms = int((WARMUP_S if warmup_s is None else warmup_s) * 1000)
        self._bus = bus
        self._address = entry.get("address", 0x76)
        self._drv = None
        if bus is not None:
            # Built with the app, while the heap is in one piece: the driver stays for good, and the
            # first cycle's begin() would build it among that cycle's objects. A chip that does not
            # answer yet is looked for again, and reported, by begin().
            try:
                self._drv = BME280(bus, self._address)
            except (SensorError, OSError):
                pass

    def planned(self, average_ms, period_ms):
        return max(1, average_ms // period_ms)

    def _lost(self, kind):
        self.win.error(kind)
        if kind == "absent":
            self._drv = None  # re-detect (and re-read calibration: it may be another chip) next time

    def begin(self):
        if self._drv is None:
            if self._bus is None:
                self.win.error("absent")
                return False
            try:
                self._drv = BME280(self._bus, self._address)
            except SensorError as e:
                self._lost(e.kind)
                return False
            except OSError:
                self._lost("absent")
                return False
        return True

    def start_window(self):
        pass

    async def sample(self):
        drv = self._drv
        if drv is None:
            return
        try:
            await asyncio.sleep_ms(drv.start_measurement())
            if drv.is_measuring():
                self.win.error("timeout")
                return
            t, p, h = drv.compensate_int(drv.read_raw())
        except SensorError as e:
            self._lost(e.kind)
            return
        except OSError:
            self._lost("absent")
            return
        win = self.win
        win.add(0, t)
        win.add(1, h)
        win.add(2, p)

    def end(self):
        pass
