"""BME680 compensation, value by value, against independent implementations, over random calibrations.

Our driver runs under real MicroPython; the references run under CPython; both read the same 256-byte
register file (calibration words, field 0 with raw ADC values), built here from Bosch's layout.

- Temperature and pressure: adafruit-circuitpython-bme680 (a fake busio I2C over the register file).
  It evaluates Bosch's integer formulas in floating point, so it differs from ours only by the integer
  path's truncations, bounded below.
- Humidity: Adafruit reads the 0xE2 nibbles the other way round from Bosch (par_h1 = 0xE3 << 4 |
  0xE2 >> 4 plus a fraction (0xE2 & 0x0F) / 16, par_h2 = 0xE1 << 4 | 0xE2 & 0x0F) and clamps to 0..100.
  Fed the nibble-swapped 0xE2 and the raw humidity raised by the fraction it subtracts, it computes
  Bosch's humidity: that is how we compare (inside 0..100 only). Fed the same registers it differs by
  up to several %RH (test_adafruit_humidity_nibble_deviation measures it).
- Humidity and gas are also checked against Bosch's floating-point formulas (BME68x API, FPU path),
  unclamped and with the signed range_sw_err (Adafruit reads it unsigned: its gas is compared only for
  range_sw_err >= 0).

Hypothesis draws 8 batches of 10 calibrations x 4 raw readings (320 cases): 8 MicroPython launches.
"""
import json
import types

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from fwsim import run_fw

from mpy import missing_tool

try:
    import adafruit_bme680
except ImportError:  # fails in CI, skips locally (missing_tool)
    adafruit_bme680 = None
else:
    # Its waits (soft reset, polling) are for a real chip; the register file answers at once.
    adafruit_bme680.time = types.SimpleNamespace(sleep=lambda s: None, monotonic=__import__("time").monotonic)


@pytest.fixture(autouse=True)
def _reference_installed():
    if adafruit_bme680 is None:
        missing_tool("adafruit-circuitpython-bme680 missing: pip install -e '.[test]'")

CALIBRATIONS, READINGS, BATCHES = 10, 4, 8

# Ranges around real chips (the Bosch vector, published dumps): wide enough to exercise every term,
# inside what the 32-bit C code handles without overflow, so "Bosch's result" is well defined.
CALIB = st.fixed_dictionaries({
    "par_t1": st.integers(24000, 28000), "par_t2": st.integers(24000, 28000), "par_t3": st.integers(-10, 30),
    "par_p1": st.integers(32000, 39000), "par_p2": st.integers(-11500, -9000), "par_p3": st.integers(60, 110),
    "par_p4": st.integers(2000, 12000), "par_p5": st.integers(-400, 100), "par_p6": st.integers(0, 60),
    "par_p7": st.integers(0, 60), "par_p8": st.integers(-1500, 500), "par_p9": st.integers(-4500, -2000),
    "par_p10": st.integers(0, 60),
    "par_h1": st.integers(500, 1000), "par_h2": st.integers(800, 1200), "par_h3": st.integers(-20, 20),
    "par_h4": st.integers(20, 70), "par_h5": st.integers(-10, 40), "par_h6": st.integers(80, 160),
    "par_h7": st.integers(-128, -40),
    "par_gh1": st.integers(-60, 20), "par_gh2": st.integers(-15000, 2000), "par_gh3": st.integers(-10, 40),
    "range_switching_error": st.integers(-8, 7), "res_heat_range": st.integers(0, 3),
    "res_heat_val": st.integers(-60, 60),
})
# 0x80000 / 0x8000 are the chip's "skipped" markers, refused by the driver (test_bme680.py).
RAW = st.fixed_dictionaries({
    "adc_T": st.integers(300000, 650000).filter(lambda v: v != 0x80000),
    "adc_P": st.integers(280000, 560000).filter(lambda v: v != 0x80000),
    "adc_H": st.integers(0, 65535 - 15).filter(lambda v: v != 0x8000), "gas_adc": st.integers(0, 1023), "gas_range": st.integers(0, 15),
})
CHIP = st.tuples(CALIB, st.lists(RAW, min_size=READINGS, max_size=READINGS))


def registers(calib, raw, adafruit_humidity=False):
    """The chip's register file (Bosch layout, bme68x_defs.h); `adafruit_humidity`: the variant that
    makes Adafruit's humidity formula see Bosch's par_h1/par_h2 (nibbles swapped, fraction offset)."""
    r = bytearray(256)
    c = calib

    def le16(at, v):
        r[at], r[at + 1] = v & 0xFF, (v >> 8) & 0xFF

    r[0xD0], r[0xF0] = 0x61, 0x00
    le16(0x8A, c["par_t2"]); r[0x8C] = c["par_t3"] & 0xFF
    le16(0x8E, c["par_p1"]); le16(0x90, c["par_p2"]); r[0x92] = c["par_p3"] & 0xFF
    le16(0x94, c["par_p4"]); le16(0x96, c["par_p5"]); r[0x98] = c["par_p7"] & 0xFF; r[0x99] = c["par_p6"] & 0xFF
    le16(0x9C, c["par_p8"]); le16(0x9E, c["par_p9"]); r[0xA0] = c["par_p10"]
    e2 = ((c["par_h2"] & 0x0F) << 4) | (c["par_h1"] & 0x0F)
    r[0xE1], r[0xE2], r[0xE3] = c["par_h2"] >> 4, e2, c["par_h1"] >> 4
    r[0xE4], r[0xE5], r[0xE6] = c["par_h3"] & 0xFF, c["par_h4"] & 0xFF, c["par_h5"] & 0xFF
    r[0xE7], r[0xE8] = c["par_h6"], c["par_h7"] & 0xFF
    le16(0xE9, c["par_t1"]); le16(0xEB, c["par_gh2"]); r[0xED] = c["par_gh1"] & 0xFF; r[0xEE] = c["par_gh3"] & 0xFF
    r[0x00] = c["res_heat_val"] & 0xFF
    r[0x02] = c["res_heat_range"] << 4
    r[0x04] = (c["range_switching_error"] & 0x0F) << 4
    adc_h = raw["adc_H"]
    if adafruit_humidity:
        r[0xE2] = ((e2 & 0x0F) << 4) | (e2 >> 4)
        adc_h += e2 >> 4
    p, t, g = raw["adc_P"], raw["adc_T"], raw["gas_adc"]
    r[0x1D] = 0x80
    r[0x1F:0x22] = bytes((p >> 12, (p >> 4) & 0xFF, (p & 0x0F) << 4))
    r[0x22:0x25] = bytes((t >> 12, (t >> 4) & 0xFF, (t & 0x0F) << 4))
    r[0x25:0x27] = bytes((adc_h >> 8, adc_h & 0xFF))
    r[0x2A:0x2C] = bytes((g >> 2, ((g & 0x03) << 6) | 0x30 | raw["gas_range"]))
    return r


class FakeBusio:
    """The busio.I2C surface adafruit_bus_device uses, over one register file."""

    def __init__(self, regs):
        self.regs = regs
        self.pointer = 0

    def try_lock(self):
        return True

    def unlock(self):
        pass

    def writeto(self, address, buf, *, start=0, end=None):
        data = bytes(buf[start:end])
        if len(data) == 1:
            self.pointer = data[0]
        # Pairs (register, value): the driver's settings. Data and calibration are not touched.

    def readfrom_into(self, address, buf, *, start=0, end=None):
        end = len(buf) if end is None else end
        for i in range(start, end):
            buf[i] = self.regs[(self.pointer + i - start) & 0xFF]


def adafruit(regs):
    s = adafruit_bme680.Adafruit_BME680_I2C(FakeBusio(regs), 0x77)
    return s.temperature, s.pressure, s.humidity, s.gas


# Bosch BME68x API, FPU path (calc_humidity without its clamp, calc_gas_resistance_low), in doubles.
K1 = (0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, -0.8, 0.0, 0.0, -0.2, -0.5, 0.0, -1.0, 0.0, 0.0)
K2 = (0.0, 0.0, 0.0, 0.0, 0.1, 0.7, 0.0, -0.8, -0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def bosch_humidity(c, adc_h, t_fine):
    tc = t_fine / 5120.0
    var1 = adc_h - (c["par_h1"] * 16.0 + c["par_h3"] / 2.0 * tc)
    var2 = var1 * (c["par_h2"] / 262144.0 * (1.0 + c["par_h4"] / 16384.0 * tc + c["par_h5"] / 1048576.0 * tc * tc))
    return var2 + (c["par_h6"] / 16384.0 + c["par_h7"] / 2097152.0 * tc) * var2 * var2


def bosch_gas(sw_err, adc, rng):
    var1 = 1340.0 + 5.0 * sw_err
    var2 = var1 * (1.0 + K1[rng] / 100.0)
    var3 = 1.0 + K2[rng] / 100.0
    return 1.0 / (var3 * 0.000000125 * (1 << rng) * ((adc - 512.0) / var2 + 1.0))


OURS = """
from drivers.bme680 import BME680
class RegisterI2C:
    def __init__(self, regs):
        self.regs = regs
    def readfrom_mem_into(self, addr, reg, buf):
        for i in range(len(buf)):
            buf[i] = self.regs[(reg + i) & 0xFF]
    def writeto_mem(self, addr, reg, buf):
        pass
res = []
for hexregs in json.load(open("cases.json")):
    d = BME680(RegisterI2C(bytearray(bytes.fromhex(hexregs))))
    raw = d.read_raw()
    t, p, h, g = d.compensate_int(raw)
    res.append([t, p, h, g, d.t_fine, d.par_h1, d.par_h2, d.range_sw_err])
out(res)
"""


def run_ours(tmp, cases):
    (tmp / "cases.json").write_text(json.dumps([registers(c, r).hex() for c, r in cases]))
    # A batch of cases and their results are held at once: a harness, not a heap budget (test_bme680.py
    # measures the driver's own heap), so it gets room.
    return run_fw(OURS, tmp, hw={}, heapsize="512K")


# Bounds of the integer path's truncations (see module docstring of drivers/bme680.py):
# temperature: adc_t >> 3 drops up to 7/8 of an LSB (<= 12 t_fine units for par_t2 <= 28000) plus
# two floors, x 5/256/100 degC, plus the 0.01 degC output step: 0.013 degC.
T_TOL = 0.013
# pressure: p / var1 before doubling (2 Pa), var1 >> 18 and (32768 + var1) * par_p1 >> 15 (3 Pa each
# near 1000 hPa), the final >> 4: measured up to 12.8 Pa over 3,000 random cases, mean -1.5 Pa; 0.15 hPa.
P_TOL_HPA = 0.15
# humidity: temp_scaled in 0.01 degC steps, the /100 and >> 10, >> 14 truncations: 0.051 %RH measured
# against Adafruit (0..100 %RH) and 0.050 against Bosch's float formula (-10..110 %RH); relative 0.35 %
# far outside the physical range (raw values no real air gives): 0.06 %RH + 0.4 %.
H_TOL = 0.06
H_REL = 0.004


# No shrinking: each step is a MicroPython launch; a failure prints its whole batch.
@settings(max_examples=BATCHES, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(st.lists(CHIP, min_size=CALIBRATIONS, max_size=CALIBRATIONS))
def test_matches_adafruit_and_bosch_float_formulas(tmp_path_factory, chips):
    cases = [(calib, raw) for calib, raws in chips for raw in raws]
    ours = run_ours(tmp_path_factory.mktemp("bme680"), cases)
    p_diffs = []
    for (calib, raw), (t, p, h, g, t_fine, h1, h2, sw) in zip(cases, ours):
        where = f"calib={calib} raw={raw}"
        # The calibration words come back as Bosch packs them (0xE2 nibbles, signed range_sw_err).
        assert (h1, h2, sw) == (calib["par_h1"], calib["par_h2"], calib["range_switching_error"]), where
        at, ap, _, ag = adafruit(registers(calib, raw))
        assert abs(t / 100 - at) <= T_TOL, where
        if 300 <= ap <= 1100:
            assert abs(p / 100 - ap) <= P_TOL_HPA, where
            p_diffs.append(p / 100 - ap)
        if calib["range_switching_error"] >= 0:
            assert abs(g - ag) <= 1 + 1e-7 * ag, where
        _, _, ah, _ = adafruit(registers(calib, raw, adafruit_humidity=True))
        if 0 < ah < 100:
            assert abs(h / 1000 - ah) <= H_TOL, where
        # Bosch's float formulas, unclamped and signed; gas to 1 ohm + 0.01 % (the integer result is
        # truncated to whole ohms; the lookup tables are the float constants in fixed point).
        bh = bosch_humidity(calib, raw["adc_H"], t_fine)
        assert abs(h / 1000 - bh) <= H_TOL + H_REL * abs(bh), where
        bg = bosch_gas(calib["range_switching_error"], raw["gas_adc"], raw["gas_range"])
        assert abs(g - bg) <= 1 + 1e-4 * bg, where
    # No systematic offset hides inside the tolerance: truncations of both signs average out.
    if len(p_diffs) >= 10:
        assert abs(sum(p_diffs) / len(p_diffs)) < 0.05


def test_adafruit_humidity_nibble_deviation(tmp_path):
    """Fed the same registers, Adafruit's humidity differs from Bosch's by its reading of 0xE2.

    With the Bosch vector's words (par_h1 = 717 = 0x2CD, par_h2 = 1021 = 0x3FD: 0xE2 = 0xDD, equal
    nibbles) the deviation is only Adafruit's kept fraction; with unequal nibbles (0xE2 = 0xF1 here)
    it is 2.0 %RH at 44 %RH, more in humid air. Our driver follows Bosch (so does the test vector,
    test_bme680.py)."""
    calib = {"par_t1": 26195, "par_t2": 26290, "par_t3": 3, "par_p1": 35395, "par_p2": -10405, "par_p3": 88,
             "par_p4": 4836, "par_p5": -118, "par_p6": 30, "par_p7": 26, "par_p8": -765, "par_p9": -3367,
             "par_p10": 30, "par_h1": 0x2C1, "par_h2": 0x3FF, "par_h3": 0, "par_h4": 45, "par_h5": 20,
             "par_h6": 120, "par_h7": -100, "par_gh1": -30, "par_gh2": -5969, "par_gh3": 18,
             "range_switching_error": 0, "res_heat_range": 0, "res_heat_val": 0}
    raw = {"adc_T": 480732, "adc_P": 393705, "adc_H": 20000, "gas_adc": 195, "gas_range": 9}
    (t, p, h, g, t_fine, h1, h2, sw), = run_ours(tmp_path, [(calib, raw)])
    _, _, ah, _ = adafruit(registers(calib, raw))
    bosch = bosch_humidity(calib, raw["adc_H"], t_fine)
    assert abs(h / 1000 - bosch) < 0.05
    # 0xE2 = 0xF1: Adafruit takes par_h1 = 0x2CF + 1/16 and par_h2 = 0x3F1 (Bosch: 0x2C1, 0x3FF).
    assert abs(ah - h / 1000) > 1.5
