"""BME680 in the sensor layer: one forced-mode conversion (with a gas hot-plate cycle) per sample.

Specified (operating) range: -40..85 degC, 300..1100 hPa, 0..100 %RH (Bosch BST-BME680-DS001, table 1
"operating range"; also kits/sensors.json). The datasheet gives no range for the gas resistance; the
quantity's own valid range (kits/quantities.json, 0..1e9 ohm) stands in.

Kit entry: {"type": "bme680", "bus": .., "address": 119, "heater": {"temperature_c": 320,
"duration_ms": 150}}. Defaults 320 degC for 150 ms: inside the 200-400 degC the datasheet calls
typical, and well past the 20-30 ms the heater needs to reach its target (section 3.3.5).
"heater": null switches the gas measurement off. Each cycle the heater set-point is recomputed with the
last measured temperature as the ambient one (calc_res_heat depends on it a little).

A gas conversion the chip marks invalid, or whose heater did not reach its target (heat_stab_r = 0),
gives no gas value and an "invalid" error; temperature, pressure and humidity are still averaged.
No warm-up: the hot plate heats only during a conversion. (A new MOX sensor drifts for days and after
power-up for minutes: the server, not the firmware, judges the gas baseline.)
"""
import asyncio

from drivers.bme680 import BME680
from drivers.errors import SensorError
from sensors.window import Window

QUANTITIES = ("temperature", "humidity", "pressure", "gas_resistance")
# Driver integer units: 0.01 degC, 0.001 %RH, Pa (= hPa * 100), ohm.
_SCALES = (100, 1000, 100, 1)
_RANGES = ((-40, 85), (0, 100), (300, 1100), (0, 1e9))
WARMUP_S = 0
HEATER_C = 320
HEATER_MS = 150


class Sensor:
    def __init__(self, entry, bus, warmup_s=None):
        self.win = Window("bme680", QUANTITIES, _SCALES, _RANGES)
        self.warmup_ms = int((WARMUP_S if warmup_s is None else warmup_s) * 1000)
        self._bus = bus
        self._address = entry.get("address", 0x77)
        heater = entry.get("heater", {})
        if heater is None:
            self._heater_c = None
            self._heater_ms = 0
        else:
            self._heater_c = heater.get("temperature_c", HEATER_C)
            self._heater_ms = heater.get("duration_ms", HEATER_MS)
        self._ambient_c = 25  # Bosch's default until a temperature was measured
        self._drv = None
        if bus is not None:
            # Built with the app, while the heap is in one piece: the driver (its calibration, its
            # buffers) stays for good, and the first cycle's begin() would build it among that
            # cycle's objects. A chip that does not answer yet is looked for again, and reported,
            # by begin().
            try:
                self._drv = BME680(bus, self._address)
            except (SensorError, OSError):
                pass

    def planned(self, average_ms, period_ms):
        return max(1, average_ms // period_ms)

    def _lost(self, kind):
        self.win.error(kind)
        if kind == "absent":
            self._drv = None  # re-detect (and re-read calibration: it may be another chip) next time

    def begin(self):
        if self._bus is None:
            self.win.error("absent")
            return False
        try:
            if self._drv is None:
                self._drv = BME680(self._bus, self._address)
            self._drv.set_heater(self._heater_c, self._heater_ms, self._ambient_c)
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
            raw = drv.read_raw()
            t, p, h, g = drv.compensate_int(raw)
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
        self._ambient_c = t // 100
        if self._heater_c is None:
            return
        if g is None or not raw[5] & 0x10:  # gas_valid_r / heat_stab_r (datasheet 5.3.5.5-6)
            win.error("invalid")
        else:
            win.add(3, g)

    def end(self):
        pass
