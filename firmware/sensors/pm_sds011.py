"""SDS011 in the sensor layer: the fan runs only around a measurement (wake, warm-up, window, sleep).

Specified range 0.0-999.9 ug/m3 for PM2.5 and PM10, 30 s to stable readings after wake-up, one data
frame per second (Nova Fitness SDS011 datasheet V1.3; also kits/sensors.json).
"""
from drivers.errors import SensorError
from drivers.sds011 import SDS011
from sensors.window import Window

QUANTITIES = ("pm2_5", "pm10")
_SCALES = (10, 10)  # frames carry 0.1 ug/m3
_RANGES = ((0, 999.9), (0, 999.9))
WARMUP_S = 30
_FRAME_MS = 1000  # active reporting mode: one frame per second


class Sensor:
    def __init__(self, entry, bus, warmup_s=None):
        self.win = Window("sds011", QUANTITIES, _SCALES, _RANGES)
        self.warmup_ms = int((WARMUP_S if warmup_s is None else warmup_s) * 1000)
        self._drv = SDS011(bus) if bus is not None else None
        self._mode_set = False

    def planned(self, average_ms, period_ms):
        # The sensor paces itself at 1 Hz whatever the sampling period.
        return max(1, average_ms // _FRAME_MS)

    def begin(self):
        drv = self._drv
        if drv is None:
            self.win.error("absent")  # the kit's bus was not built
            return False
        if not self._mode_set:
            # Another firmware may have left it in query mode; the setting survives power cycles.
            drv.set_reporting_mode(True)
            self._mode_set = True
        drv.wake()
        return True

    def start_window(self):
        self._drv.flush()  # frames from the warm-up are not stable yet

    async def sample(self):
        self._drain()

    def _drain(self):
        drv = self._drv
        win = self.win
        while True:  # every frame that arrived since the last look
            try:
                r = drv.read_raw()
            except SensorError as e:
                win.error(e.kind)
                if e.kind == "checksum":
                    continue  # that frame is dropped; later ones are good
                return
            if r is None:
                return
            win.add(0, r[0])
            win.add(1, r[1])

    def end(self):
        # Frames that arrived after the window's last sample still belong to it: with a window of one
        # sample period, a frame a moment late (a busy CPU) would otherwise leave the window empty.
        # The fan stops whatever that read meets.
        try:
            self._drain()
        finally:
            self._drv.sleep()
