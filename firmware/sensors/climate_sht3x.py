"""SHT3x in the sensor layer: one single-shot high-repeatability measurement per sample, no warm-up.

Specified range: -40..125 degC, 0..100 %RH (Sensirion SHT3x-DIS datasheet v5, tables 1 and 2; also
kits/sensors.json). Start-up takes 1 ms at most (t_PU, table 4): no warm-up. A CRC error drops that
sample and is reported; an absent sensor is looked for again every cycle.

Kit entry: {"type": "sht3x", "bus": .., "address": 68} (0x44, or 0x45 with ADDR high).
"""
import asyncio

from drivers.errors import SensorError
from drivers.sht3x import SHT3x
from sensors.window import Window

QUANTITIES = ("temperature", "humidity")
_SCALES = (1000, 1000)  # driver units: 0.001 degC, 0.001 %RH
_RANGES = ((-40, 125), (0, 100))
WARMUP_S = 0


class Sensor:
    def __init__(self, entry, bus, warmup_s=None):
        self.win = Window("sht3x", QUANTITIES, _SCALES, _RANGES)
        self.warmup_ms = int((WARMUP_S if warmup_s is None else warmup_s) * 1000)
        self._bus = bus
        self._address = entry.get("address", 0x44)
        self._drv = None
        if bus is not None:
            # Built with the app, while the heap is in one piece: the driver stays for good, and the
            # first cycle's begin() would build it among that cycle's objects. A chip that does not
            # answer yet is looked for again, and reported, by begin().
            try:
                self._drv = SHT3x(bus, self._address)
            except (SensorError, OSError):
                pass

    def planned(self, average_ms, period_ms):
        return max(1, average_ms // period_ms)

    def _lost(self, kind):
        self.win.error(kind)
        if kind == "absent":
            self._drv = None

    def begin(self):
        if self._bus is None:
            self.win.error("absent")
            return False
        if self._drv is None:
            try:
                self._drv = SHT3x(self._bus, self._address)
            except SensorError as e:
                self._lost(e.kind)
                if e.kind != "checksum":
                    return False
                # It answered, but its status word failed the CRC: measure anyway (each measurement
                # has its own CRCs), without the status check.
                try:
                    self._drv = SHT3x(self._bus, self._address, check=False)
                except SensorError as e2:
                    self._lost(e2.kind)
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
