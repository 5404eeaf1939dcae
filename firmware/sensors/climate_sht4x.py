"""SHT4x in the sensor layer: one high-precision measurement per sample, no warm-up.

Specified range: -40..125 degC, 0..100 %RH (Sensirion SHT4x datasheet v3, section 2, "operating
range"; also kits/sensors.json). The RH formula can give values below 0 or above 100 %RH (section 4.6);
they are kept and flagged out_of_range, not cropped. Power-up takes 1 ms at most (t_PU, table 4): no
warm-up. The serial number is read once and logged (`dcz sensor_serial`), so a swapped sensor shows.

Kit entry: {"type": "sht4x", "bus": .., "address": 68} (0x44; 0x45 and 0x46 exist).
"""
import asyncio

import log
from drivers.errors import SensorError
from drivers.sht4x import SHT4x
from sensors.window import Window

QUANTITIES = ("temperature", "humidity")
_SCALES = (1000, 1000)  # driver units: 0.001 degC, 0.001 %RH
_RANGES = ((-40, 125), (0, 100))
WARMUP_S = 0


class Sensor:
    def __init__(self, entry, bus, warmup_s=None):
        self.win = Window("sht4x", QUANTITIES, _SCALES, _RANGES)
        self.warmup_ms = int((WARMUP_S if warmup_s is None else warmup_s) * 1000)
        self._bus = bus
        self._address = entry.get("address", 0x44)
        self._drv = None
        self.serial = None

    def planned(self, average_ms, period_ms):
        return max(1, average_ms // period_ms)

    def _lost(self, kind):
        self.win.error(kind)
        if kind == "absent":
            self._drv = None
            self.serial = None  # it may come back as another sensor

    def begin(self):
        if self._bus is None:
            self.win.error("absent")
            return False
        if self._drv is None:
            drv = SHT4x(self._bus, self._address)
            try:
                drv.soft_reset()  # the command's ack says it is there; 1 ms before the next command
            except SensorError as e:
                self._lost(e.kind)
                return False
            except OSError:
                self._lost("absent")
                return False
            self._drv = drv
        return True

    def start_window(self):
        pass

    async def sample(self):
        drv = self._drv
        if drv is None:
            return
        try:
            if self.serial is None:
                await asyncio.sleep_ms(drv.start_serial())
                self.serial = drv.read_serial()
                log.event("sensor_serial", sensor="sht4x", address=self._address, serial="%08x" % self.serial)
            await asyncio.sleep_ms(drv.start_measurement())
            t, h = drv.compensate_int(drv.read_raw())
        except SensorError as e:
            self._lost(e.kind)
            return
        except OSError:
            self._lost("absent")
            return
        self.win.add(0, t)
        self.win.add(1, h)

    def end(self):
        pass
