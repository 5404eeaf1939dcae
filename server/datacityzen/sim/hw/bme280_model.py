"""Simulated Bosch BME280 on I2C: a register file per datasheet BST-BME280-DS002 (section 5).

Chip id 0x60 at 0xD0, trimming parameters at 0x88..0xA1 and 0xE1..0xE7 (table 16), ctrl_hum 0xF2,
status 0xF3 (bit 3 `measuring` during a conversion), ctrl_meas 0xF4, config 0xF5, data 0xF7..0xFE
(reset value 0x80000 / 0x8000 until a measurement), soft reset 0xE0 <- 0xB6.

A forced-mode write to ctrl_meas starts a conversion lasting the datasheet's maximum measurement
time (appendix 9.1); its result is the environment of sim_env at that moment, turned into raw ADC
values by inverting the datasheet's floating-point compensation formulas (section 8.1) by bisection,
so a correct driver reads back the environment within the chip's resolution. The trimming words
default to a real chip's ("bme280_1" of shared/data/bosch_compensation_test_vectors.json).

Config (the address's entry in sim_hw.json): {"chip": "bme280", "calib": {"T1": .., ..} (override
trimming words), "fixed_data": [8 bytes for 0xF7..0xFE] (the data registers always hold these), "faults":
{"chip_id": 88 (answer another id, e.g. 0x58 = BMP280), "stuck_measuring": true}}.
"""

import sim_env

CALIB = {
    "T1": 28189, "T2": 26285, "T3": 50,
    "P1": 36635, "P2": -10696, "P3": 3024, "P4": 11092, "P5": -241, "P6": -7,
    "P7": 12300, "P8": -12000, "P9": 5000,
    "H1": 75, "H2": 338, "H3": 0, "H4": 370, "H5": 60, "H6": 30,
}


def _le16(regs, at, v):
    v &= 0xFFFF
    regs[at] = v & 0xFF
    regs[at + 1] = v >> 8


class BME280Model:
    def __init__(self, env, cfg):
        faults = cfg.get("faults") or {}
        self.env = env
        self.c = dict(CALIB)
        self.c.update(cfg.get("calib") or {})
        self.fixed = cfg.get("fixed_data")
        self.chip_id = int(faults.get("chip_id", 0x60))
        self.stuck = bool(faults.get("stuck_measuring", False))
        self.conversions = 0
        self.regs = bytearray(256)
        self._reset()

    def _reset(self):
        r = self.regs
        for i in range(256):
            r[i] = 0
        r[0xD0] = self.chip_id
        c = self.c
        at = 0x88
        for k in ("T1", "T2", "T3", "P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9"):
            _le16(r, at, c[k])
            at += 2
        r[0xA1] = c["H1"]
        _le16(r, 0xE1, c["H2"])
        r[0xE3] = c["H3"]
        r[0xE4] = (c["H4"] >> 4) & 0xFF
        r[0xE5] = (c["H4"] & 0x0F) | ((c["H5"] & 0x0F) << 4)
        r[0xE6] = (c["H5"] >> 4) & 0xFF
        r[0xE7] = c["H6"] & 0xFF
        r[0xF7] = r[0xFA] = 0x80  # data reset values (section 5.3)
        r[0xFD] = 0x80
        if self.fixed:
            for i in range(8):
                r[0xF7 + i] = self.fixed[i]
        self._done_at = 0.0
        self._pending = None

    # -- datasheet section 8.1, double precision ---------------------------------------------------

    def _t(self, adc):
        c = self.c
        v1 = (adc / 16384.0 - c["T1"] / 1024.0) * c["T2"]
        x = adc / 131072.0 - c["T1"] / 8192.0
        t_fine = v1 + x * x * c["T3"]
        return t_fine / 5120.0, t_fine

    def _p(self, adc, t_fine):
        c = self.c
        v1 = t_fine / 2.0 - 64000.0
        v2 = v1 * v1 * c["P6"] / 32768.0
        v2 = v2 + v1 * c["P5"] * 2.0
        v2 = v2 / 4.0 + c["P4"] * 65536.0
        v1 = (c["P3"] * v1 * v1 / 524288.0 + c["P2"] * v1) / 524288.0
        v1 = (1.0 + v1 / 32768.0) * c["P1"]
        p = 1048576.0 - adc
        p = (p - v2 / 4096.0) * 6250.0 / v1
        v1 = c["P9"] * p * p / 2147483648.0
        v2 = p * c["P8"] / 32768.0
        return (p + (v1 + v2 + c["P7"]) / 16.0) / 100.0

    def _h(self, adc, t_fine):
        c = self.c
        v = t_fine - 76800.0
        v = (adc - (c["H4"] * 64.0 + c["H5"] / 16384.0 * v)) * (
            c["H2"] / 65536.0 * (1.0 + c["H6"] / 67108864.0 * v * (1.0 + c["H3"] / 67108864.0 * v)))
        return v * (1.0 - c["H1"] * v / 524288.0)

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

    def _convert(self, osrs_t, osrs_p, osrs_h):
        r = self.regs
        self.conversions += 1
        if self.fixed:
            for i in range(8):
                r[0xF7 + i] = self.fixed[i]
            return
        t = sim_env.now()
        env = self.env
        adc_t = self._invert(lambda a: self._t(a)[0], env.temperature(t), 1 << 20, True)
        t_fine = self._t(adc_t)[1]
        adc_p = self._invert(lambda a: self._p(a, t_fine), env.pressure(t), 1 << 20, False)
        adc_h = self._invert(lambda a: self._h(a, t_fine), env.humidity(t), 1 << 16, True)
        if osrs_t:
            r[0xFA], r[0xFB], r[0xFC] = adc_t >> 12, (adc_t >> 4) & 0xFF, (adc_t & 0x0F) << 4
        if osrs_p:
            r[0xF7], r[0xF8], r[0xF9] = adc_p >> 12, (adc_p >> 4) & 0xFF, (adc_p & 0x0F) << 4
        if osrs_h:
            r[0xFD], r[0xFE] = adc_h >> 8, adc_h & 0xFF

    def _settle(self):
        if self._pending is not None and (sim_env.now() >= self._done_at) and not self.stuck:
            self._convert(*self._pending)
            self._pending = None
            self.regs[0xF4] &= 0xFC  # back to sleep mode after a forced conversion (3.3.3)
            self.regs[0xF3] = 0

    # -- bus side ----------------------------------------------------------------------------------

    def read(self, reg, buf, n):
        self._settle()
        for i in range(n):
            buf[i] = self.regs[(reg + i) & 0xFF]

    def write(self, reg, data):
        for b in data:
            self._write_one(reg & 0xFF, b)
            reg += 1

    def _write_one(self, reg, b):
        r = self.regs
        if reg == 0xE0:
            if b == 0xB6:
                self._reset()
            return
        if reg not in (0xF2, 0xF4, 0xF5):
            return  # read-only
        r[reg] = b
        if reg == 0xF4 and b & 0x03 in (1, 2):  # forced mode
            osrs = (0, 1, 2, 4, 8, 16, 16, 16)
            ot, op, oh = osrs[b >> 5], osrs[(b >> 2) & 7], osrs[r[0xF2] & 7]
            # A real chip finishes in the typical time of datasheet appendix 9.1 (1 + 2*osrs_t +
            # (2*osrs_p + 0.5) + (2*osrs_h + 0.5) ms); the driver waits the maximum (1.25 + 2.3*...), so
            # with asyncio's 1 ms tick it never reads a conversion still running on a sound chip.
            us = 1000 + 2000 * ot + (2000 * op + 500 if op else 0) + (2000 * oh + 500 if oh else 0)
            self._pending = (ot, op, oh)
            self._done_at = sim_env.now() + us / 1e6
            r[0xF3] = 0x08
