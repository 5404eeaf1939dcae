"""Simulated Bosch BME680 on I2C: a register file per the datasheet BST-BME680-DS001 (section 5).

Chip id 0x61 at 0xD0, variant 0x00 at 0xF0; calibration at 0x8A..0xA0, 0xE1..0xEE and 0x00/0x02/0x04
(the layout of Bosch's BME68x API get_calib_data; par_h1/par_h2 share 0xE2: par_h1 = 0xE3 << 4 | 0xE2 &
0x0F, par_h2 = 0xE1 << 4 | 0xE2 >> 4); heater set-points res_heat_x 0x5A.., gas_wait_x 0x64..; ctrl_gas
0x70/0x71, ctrl_hum 0x72, ctrl_meas 0x74, config 0x75; field 0 at 0x1D..0x2B (new_data_0 bit 7, measuring
bit 5, gas_measuring bit 6 of 0x1D; gas_valid bit 5 and heat_stab bit 4 of 0x2B); soft reset 0xE0 <- 0xB6.

A write of forced mode to ctrl_meas starts a conversion lasting Bosch's measurement time (1963 us per
oversampling cycle + 4.3 ms + 1 ms) plus the heater time of gas_wait_0 when run_gas is set. Its result
is the environment of sim_env, turned into ADC values by inverting Bosch's floating-point compensation
(the BME68x API's FPU path, in double precision) by bisection; the gas resistance comes from a
metal-oxide model (clean-air baseline lowered by humidity, slow drift, and breath events, breath.py)
inverted through the gas formula for the range a real chip would pick. heat_stab is set when gas_wait_0
gives the heater at least 25 ms (the datasheet says 20-30 ms are needed, section 3.3.5).
The calibration defaults to "bme680_1" of shared/data/bosch_compensation_test_vectors.json.

Config: {"chip": "bme680", "calib": {"par_t1": .., "par_gh1": .., "range_switching_error": ..},
"fixed_adc": {"adc_T": .., "adc_P": .., "adc_H": .., "gas_adc": .., "gas_range": ..},
"gas_base_ohm": 150000, "breath": {...} (breath.py), "faults": {"chip_id": 0x60,
"stuck_measuring": true, "unplugged": true, "gas_invalid": true}}.
"""
import math

import breath
import sim_env

CALIB = {
    "par_t1": 26195, "par_t2": 26290, "par_t3": 3,
    "par_p1": 35395, "par_p2": -10405, "par_p3": 88, "par_p4": 4836, "par_p5": -118, "par_p6": 30,
    "par_p7": 26, "par_p8": -765, "par_p9": -3367, "par_p10": 30,
    "par_h1": 717, "par_h2": 1021, "par_h3": 0, "par_h4": 45, "par_h5": 20, "par_h6": 120, "par_h7": -100,
    "par_gh1": -30, "par_gh2": -5969, "par_gh3": 18,
    "range_switching_error": 0, "res_heat_range": 0, "res_heat_val": 0,
}
_ENODEV = 19
_CYCLES = (0, 1, 2, 4, 8, 16, 16, 16)
# calc_gas_resistance_low's tables (Bosch BME68x API).
_K1 = (2147483647, 2147483647, 2147483647, 2147483647, 2147483647, 2126008810, 2147483647, 2130303777,
       2147483647, 2147483647, 2143188679, 2136746228, 2147483647, 2126008810, 2147483647, 2147483647)
_K2 = (4096000000, 2048000000, 1024000000, 512000000, 255744255, 127110228, 64000000, 32258064, 16016016,
       8000000, 4000000, 2000000, 1000000, 500000, 250000, 125000)


def _le16(regs, at, v):
    v &= 0xFFFF
    regs[at] = v & 0xFF
    regs[at + 1] = v >> 8


def gas_ohm(gas_adc, gas_range, sw_err):
    """calc_gas_resistance_low of the BME68x API, in exact integers (what the chip's reader computes)."""
    var1 = ((1340 + 5 * sw_err) * _K1[gas_range]) >> 16
    var2 = (gas_adc << 15) - 16777216 + var1
    var3 = (_K2[gas_range] * var1) >> 9
    return (var3 + (var2 >> 1)) // var2


class BME680Model:
    def __init__(self, env, cfg):
        faults = cfg.get("faults") or {}
        self.env = env
        self.c = dict(CALIB)
        self.c.update(cfg.get("calib") or {})
        self.fixed = cfg.get("fixed_adc")
        self.gas_base = float(cfg.get("gas_base_ohm", 150000.0))
        self.breath = breath.Breath(cfg.get("breath"))
        self.chip_id = int(faults.get("chip_id", 0x61))
        self.stuck = bool(faults.get("stuck_measuring", False))
        self.unplugged = bool(faults.get("unplugged", False))
        self.gas_invalid = bool(faults.get("gas_invalid", False))
        self.conversions = 0
        self.last_gas_ohm = None
        self.regs = bytearray(256)
        self._reset()

    def _reset(self):
        r = self.regs
        for i in range(256):
            r[i] = 0
        r[0xD0] = self.chip_id
        r[0xF0] = 0x00
        c = self.c
        _le16(r, 0x8A, c["par_t2"])
        r[0x8C] = c["par_t3"] & 0xFF
        _le16(r, 0x8E, c["par_p1"])
        _le16(r, 0x90, c["par_p2"])
        r[0x92] = c["par_p3"] & 0xFF
        _le16(r, 0x94, c["par_p4"])
        _le16(r, 0x96, c["par_p5"])
        r[0x98] = c["par_p7"] & 0xFF
        r[0x99] = c["par_p6"] & 0xFF
        _le16(r, 0x9C, c["par_p8"])
        _le16(r, 0x9E, c["par_p9"])
        r[0xA0] = c["par_p10"] & 0xFF
        r[0xE1] = (c["par_h2"] >> 4) & 0xFF
        r[0xE2] = ((c["par_h2"] & 0x0F) << 4) | (c["par_h1"] & 0x0F)
        r[0xE3] = (c["par_h1"] >> 4) & 0xFF
        r[0xE4] = c["par_h3"] & 0xFF
        r[0xE5] = c["par_h4"] & 0xFF
        r[0xE6] = c["par_h5"] & 0xFF
        r[0xE7] = c["par_h6"] & 0xFF
        r[0xE8] = c["par_h7"] & 0xFF
        _le16(r, 0xE9, c["par_t1"])
        _le16(r, 0xEB, c["par_gh2"])
        r[0xED] = c["par_gh1"] & 0xFF
        r[0xEE] = c["par_gh3"] & 0xFF
        r[0x00] = c["res_heat_val"] & 0xFF
        r[0x02] = (c["res_heat_range"] & 0x03) << 4
        r[0x04] = (c["range_switching_error"] & 0x0F) << 4
        r[0x1F] = r[0x22] = 0x80  # data reset values 0x80000 / 0x8000 (section 5.3.5)
        r[0x25] = 0x80
        r[0x70] = 0x00
        self._done_at = 0.0
        self._pending = False

    # -- Bosch FPU path (double precision) ---------------------------------------------------------

    def _t(self, adc):
        c = self.c
        var1 = (adc / 16384.0 - c["par_t1"] / 1024.0) * c["par_t2"]
        x = adc / 131072.0 - c["par_t1"] / 8192.0
        t_fine = var1 + x * x * (c["par_t3"] * 16.0)
        return t_fine / 5120.0, t_fine

    def _p(self, adc, t_fine):
        c = self.c
        var1 = t_fine / 2.0 - 64000.0
        var2 = var1 * var1 * (c["par_p6"] / 131072.0)
        var2 = var2 + var1 * c["par_p5"] * 2.0
        var2 = var2 / 4.0 + c["par_p4"] * 65536.0
        var1 = (c["par_p3"] * var1 * var1 / 16384.0 + c["par_p2"] * var1) / 524288.0
        var1 = (1.0 + var1 / 32768.0) * c["par_p1"]
        p = 1048576.0 - adc
        p = (p - var2 / 4096.0) * 6250.0 / var1
        var1 = c["par_p9"] * p * p / 2147483648.0
        var2 = p * (c["par_p8"] / 32768.0)
        var3 = (p / 256.0) ** 3 * (c["par_p10"] / 131072.0)
        return (p + (var1 + var2 + var3 + c["par_p7"] * 128.0) / 16.0) / 100.0

    def _h(self, adc, t_fine):
        c = self.c
        tc = t_fine / 5120.0
        var1 = adc - (c["par_h1"] * 16.0 + c["par_h3"] / 2.0 * tc)
        var2 = var1 * (c["par_h2"] / 262144.0 * (1.0 + c["par_h4"] / 16384.0 * tc + c["par_h5"] / 1048576.0 * tc * tc))
        var3 = c["par_h6"] / 16384.0
        var4 = c["par_h7"] / 2097152.0
        return var2 + (var3 + var4 * tc) * var2 * var2

    @staticmethod
    def _invert(f, target, hi, rising):
        lo = 0
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if (f(mid) < target) == rising:
                lo = mid
            else:
                hi = mid
        return lo

    def gas_resistance(self, t, rh):
        """Ohm a BME680 hot plate would show now: baseline lowered by humid air, drifting slowly,
        dropping when someone breathes on it."""
        s = self.env.seed
        r = self.gas_base * math.exp(-0.012 * (rh - 50.0)) * (1.0 + 0.15 * sim_env.smooth(s, 20, t / 1800.0))
        return r * (1.0 - self.breath.gas_drop * self.breath.strength(t))

    def _gas_code(self, ohm):
        """(gas_adc, gas_range) closest to `ohm`, the range chosen so the ADC sits mid-scale."""
        sw = self.c["range_switching_error"]
        best = None
        for rng in range(16):
            var1 = ((1340 + 5 * sw) * _K1[rng]) >> 16
            var3 = (_K2[rng] * var1) >> 9
            adc = int(round((var3 / ohm + 16777216 - var1) / 32768.0))
            if 0 <= adc <= 1023 and (best is None or abs(adc - 512) < abs(best[0] - 512)):
                best = (adc, rng)
        return best if best else (1023, 15)

    def _convert(self):
        r = self.regs
        self.conversions += 1
        run_gas = bool(r[0x71] & 0x10) and not (r[0x70] & 0x08)
        gw = r[0x64]
        stable = (gw & 0x3F) << (2 * (gw >> 6)) >= 25
        if self.fixed:
            f = self.fixed
            adc_t, adc_p, adc_h = f["adc_T"], f["adc_P"], f["adc_H"]
            gas_adc, gas_range = f.get("gas_adc", 0), f.get("gas_range", 0)
        else:
            t = sim_env.now()
            env = self.env
            k = self.breath.strength(t)
            temp = env.temperature(t) + self.breath.temperature_rise * k
            rh = min(100.0, env.humidity(t) + self.breath.humidity_rise * k)
            adc_t = self._invert(lambda a: self._t(a)[0], temp, 1 << 20, True)
            t_fine = self._t(adc_t)[1]
            adc_p = self._invert(lambda a: self._p(a, t_fine), env.pressure(t), 1 << 20, False)
            adc_h = self._invert(lambda a: self._h(a, t_fine), rh, 1 << 16, True)
            self.last_gas_ohm = self.gas_resistance(t, rh)
            gas_adc, gas_range = self._gas_code(self.last_gas_ohm)
        osrs_t, osrs_p, osrs_h = r[0x74] >> 5, (r[0x74] >> 2) & 7, r[0x72] & 7
        r[0x1D] = 0x80  # new_data_0, gas_meas_index 0
        r[0x1E] = (r[0x1E] + 1) & 0xFF
        if osrs_p:
            r[0x1F], r[0x20], r[0x21] = adc_p >> 12, (adc_p >> 4) & 0xFF, (adc_p & 0x0F) << 4
        if osrs_t:
            r[0x22], r[0x23], r[0x24] = adc_t >> 12, (adc_t >> 4) & 0xFF, (adc_t & 0x0F) << 4
        if osrs_h:
            r[0x25], r[0x26] = adc_h >> 8, adc_h & 0xFF
        valid = run_gas and not self.gas_invalid
        r[0x2A] = gas_adc >> 2
        r[0x2B] = ((gas_adc & 0x03) << 6) | (0x20 if valid else 0) | (0x10 if valid and stable else 0) | gas_range

    def _settle(self):
        if self._pending and sim_env.now() >= self._done_at and not self.stuck:
            self._pending = False
            self._convert()
            self.regs[0x74] &= 0xFC  # back to sleep after a forced conversion (section 3.1)

    # -- bus side ----------------------------------------------------------------------------------

    def read(self, reg, buf, n):
        if self.unplugged:
            raise OSError(_ENODEV)
        self._settle()
        for i in range(n):
            buf[i] = self.regs[(reg + i) & 0xFF]

    def write(self, reg, data):
        if self.unplugged:
            raise OSError(_ENODEV)
        for b in data:
            self._write_one(reg & 0xFF, b)
            reg += 1

    def _write_one(self, reg, b):
        r = self.regs
        if reg == 0xE0:
            if b == 0xB6:
                self._reset()
            return
        if not (0x50 <= reg <= 0x6D or 0x70 <= reg <= 0x75):
            return  # read-only
        r[reg] = b
        if reg == 0x74 and b & 0x03 == 0x01:  # forced mode
            cycles = _CYCLES[b >> 5] + _CYCLES[(b >> 2) & 7] + _CYCLES[r[0x72] & 7]
            us = cycles * 1963 + 477 * 9 + 1000
            if r[0x71] & 0x10 and not r[0x70] & 0x08:
                gw = r[0x64]
                us += ((gw & 0x3F) << (2 * (gw >> 6))) * 1000
            self._pending = True
            # Bosch's figure is what a reader must wait; the chip is a little faster, and sleep_ms on
            # the unix port may end up to 1 ms early: done at 98 % of it, less 1 ms.
            self._done_at = sim_env.now() + max(0.0, 0.98 * us / 1e6 - 0.001)
            r[0x1D] = (r[0x1D] & 0x0F) | 0x60  # measuring, gas_measuring; new_data cleared


Model = BME680Model  # machine.py finds chip models by this name
