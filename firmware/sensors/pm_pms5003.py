"""PMS5003 / PMS7003 in the sensor layer: passive mode, the fan runs only around a measurement.

Each cycle: wake (fan on), passive mode, warm-up, then one read request per sample period; the
answers are averaged; sleep (fan off) at the end. Passive mode means the sensor sends a frame only
when asked, so the window holds exactly the frames we asked for, whatever the sensor's own pace.

Specified range (PMS5003 data manual V2.3, technical index): effective range 0-500 ug/m3 for PM2.5
("maximum range" >= 1000); the manual gives no separate range for PM1 and PM10, so the same 0-500
bounds their "out_of_range" flag. Counts have no specified range: a 16-bit word carries 0-65535 per
0.1 L. Stable data 30 s after wake-up ("other attentions" 4); also kits/sensors.json.
Masses are the "atmospheric environment" words (see drivers/pms5003.py).
"""
from drivers.errors import SensorError
from drivers.pms5003 import PMS5003, RAW_PM1
from sensors.window import Window

QUANTITIES = ("pm1", "pm2_5", "pm10", "pn_gt0_3", "pn_gt0_5", "pn_gt1_0", "pn_gt2_5", "pn_gt5_0", "pn_gt10")
_SCALES = (1, 1, 1, 1, 1, 1, 1, 1, 1)  # the frame already carries ug/m3 and counts per 0.1 L (1/dL)
_MASS = (0, 500)
_COUNT = (0, 65535)
_RANGES = (_MASS, _MASS, _MASS, _COUNT, _COUNT, _COUNT, _COUNT, _COUNT, _COUNT)
WARMUP_S = 30


class Sensor:
    def __init__(self, entry, bus, warmup_s=None):
        name = entry.get("type", "pms5003")
        self.win = Window(name, QUANTITIES, _SCALES, _RANGES)
        self.warmup_ms = int((WARMUP_S if warmup_s is None else warmup_s) * 1000)
        self._drv = PMS5003(bus, name=name) if bus is not None else None

    def planned(self, average_ms, period_ms):
        return max(1, average_ms // period_ms)

    def begin(self):
        drv = self._drv
        if drv is None:
            self.win.error("absent")  # the kit's bus was not built
            return False
        drv.wake()
        # Every cycle, not once: a sensor that lost power comes back in active mode (the default).
        drv.set_passive(True)
        return True

    def start_window(self):
        drv = self._drv
        drv.flush()  # frames and answers from the warm-up
        drv.request_read()

    async def sample(self):
        drv = self._drv
        win = self.win
        while True:  # take the answer to the last request (and anything else that arrived)
            try:
                r = drv.read_raw()
            except SensorError as e:
                win.error(e.kind)
                if e.kind == "checksum":
                    continue
                break
            if r is None:
                break
            for i in range(9):
                win.add(i, r[RAW_PM1 + i])
        drv.request_read()

    def end(self):
        self._drv.sleep()
