"""BME680 driver under MicroPython against the simulated chip: Bosch vector, heater, forced mode, errors, heap."""
import json
import math
from pathlib import Path

from fwsim import run_fw

VECTORS = json.loads((Path("/work/shared/data") / "bosch_compensation_test_vectors.json").read_text())
V = VECTORS["bme680_1"]
FIXED = {k: V[k] for k in ("adc_T", "adc_P", "adc_H", "gas_adc", "gas_range")}


def chip(**cfg):
    return {"i2c": {"0": {"119": {"chip": "bme680", **cfg}}}}


PRELUDE = """
import time, gc, machine, sim_env
from drivers.bme680 import BME680, gas_wait_code, gas_wait_ms
from drivers.errors import SensorError
i2c = machine.I2C(0)
def err(fn, *a):
    try:
        fn(*a)
        return None
    except SensorError as e:
        return [type(e).__name__, e.kind, str(e.args[1])]
def measure(d):
    time.sleep_ms(d.start_measurement())
    return d.read()
"""


def test_bosch_vector(tmp_path):
    """bme680_1: calibration words through the register packing (0xE2 nibbles, signed words), then
    the integer compensation against the vector's values."""
    code = PRELUDE + """
d = BME680(i2c)
d.set_heater(320, 150)
r = measure(d)
names = ("par_t1","par_t2","par_t3","par_p1","par_p2","par_p3","par_p4","par_p5","par_p6","par_p7","par_p8",
         "par_p9","par_p10","par_h1","par_h2","par_h3","par_h4","par_h5","par_h6","par_h7","par_gh1","par_gh2",
         "par_gh3","range_sw_err","res_heat_range","res_heat_val")
out({"calib": [getattr(d, n) for n in names], "raw": list(d.raw), "int": list(d.compensate_int(d.raw)),
     "r": [r.temperature, r["pressure"], r.humidity, r["gas_resistance"], r.gas_valid, r.heat_stable]})
"""
    res = run_fw(code, tmp_path, hw=chip(fixed_adc=FIXED))
    c = V["calib"]
    assert res["calib"] == [c[k] for k in (
        "par_t1", "par_t2", "par_t3", "par_p1", "par_p2", "par_p3", "par_p4", "par_p5", "par_p6", "par_p7",
        "par_p8", "par_p9", "par_p10", "par_h1", "par_h2", "par_h3", "par_h4", "par_h5", "par_h6", "par_h7",
        "par_gh1", "par_gh2", "par_gh3", "range_switching_error", "res_heat_range", "res_heat_val")]
    assert res["raw"][:5] == [V["adc_T"], V["adc_P"], V["adc_H"], V["gas_adc"], V["gas_range"]]
    t, p, h, g, valid, stable = res["r"]
    ct, cp, ch, cg = V["computed"]
    assert res["int"][0] == 1931 and t == 19.31  # 0.01 degC steps: 19.3113 -> 19.31
    assert abs(t - V["expected_T_C"]) <= 0.005
    # The 32-bit integer pressure formula truncates: 4.5 Pa under the float result here.
    assert res["int"][1] == 100973 and abs(p * 100 - V["expected_P_Pa"]) < 5
    assert abs(h - V["expected_RH_pct"]) < 0.01 and abs(h - ch) < 0.01
    assert g == 20467 and abs(g - V["expected_gas_ohm"]) <= 1  # the vector's tolerance: 1 ohm
    assert (valid, stable) == (True, True)


def test_heater_set_point_and_wait_codes(tmp_path):
    code = PRELUDE + """
d = BME680(i2c)
regs = i2c.devices[119].regs
rh, gw = d.set_heater(320, 150)
written = [regs[0x5A], regs[0x64], regs[0x70], regs[0x71]]
codes = [[ms, gas_wait_code(ms), gas_wait_ms(gas_wait_code(ms))] for ms in (1, 63, 64, 100, 150, 252, 1000, 4032)]
bad = []
for args in ((401, 100), (-1, 100), (300, 0), (300, 4033)):
    try:
        d.set_heater(*args)
        bad.append(None)
    except ValueError as e:
        bad.append(str(e))
d.set_heater(None, 0)
off = [regs[0x70], regs[0x71]]
out({"rh": rh, "gw": gw, "written": written, "codes": codes, "bad": bad, "off": off,
     "res_heat": {str(t): d.res_heat_code(t, 25) for t in (200, 250, 300, 320, 350, 400)},
     "amb": [d.res_heat_code(320, a) for a in (-20, 0, 25, 40)]})
"""
    res = run_fw(code, tmp_path, hw=chip())
    assert res["written"] == [res["rh"], 0x65, 0x00, 0x10]  # run_gas, nb_conv 0, heater on
    # gas_wait: 6-bit value x 1/4/16/64 (datasheet 5.3.3.3); 150 ms -> 37 x 4 = 148 ms (0x65).
    assert res["codes"] == [[1, 1, 1], [63, 63, 63], [64, 0x50, 64], [100, 0x59, 100], [150, 0x65, 148],
                            [252, 0x7F, 252], [1000, 0xBE, 992], [4032, 0xFF, 4032]]
    assert all(res["bad"]) and "400" in res["bad"][0] and "4032" in res["bad"][3]
    assert res["off"] == [0x08, 0x00]
    # Bosch's float formula (datasheet 3.3.5 / BME68x API FPU path) for the vector's calibration:
    c = V["calib"]

    def res_heat_float(target, amb=25):
        var1 = c["par_gh1"] / 16.0 + 49.0
        var2 = c["par_gh2"] / 32768.0 * 0.0005 + 0.00235
        var3 = c["par_gh3"] / 1024.0
        var5 = var1 * (1.0 + var2 * target) + var3 * amb
        return int(3.4 * (var5 * (4.0 / (4 + c["res_heat_range"])) * (1.0 / (1 + c["res_heat_val"] * 0.002)) - 25))

    for target, code in res["res_heat"].items():
        # The integer path weighs the ambient term far less (/1000 where the float one has x2560):
        # at 25 degC that is 1.5 counts of res_heat for this chip.
        assert abs(code - res_heat_float(int(target))) <= 2, target
    assert res["res_heat"]["320"] == res["rh"]
    codes = [res["res_heat"][str(t)] for t in (200, 250, 300, 320, 350, 400)]
    assert codes == sorted(codes) and codes[0] < codes[-1]  # hotter target, higher resistance
    assert res["amb"] == sorted(res["amb"])


def test_forced_mode_registers_timing_and_values(tmp_path):
    code = PRELUDE + """
d = BME680(i2c)
regs = i2c.devices[119].regs
before = err(d.read_raw)
d.set_heater(320, 150)
wait = d.start_measurement()
written = [regs[0x72], regs[0x74], regs[0x75]]
busy = d.is_measuring()
early = err(d.read_raw)
time.sleep_ms(wait)
r = d.read()
now = sim_env.now()
env = machine.environment()
out({"before": before, "wait": wait, "written": written, "busy": busy, "early": early,
     "after": [d.is_measuring(), regs[0x74] & 3],
     "r": [r.temperature, r.pressure, r.humidity, r.gas_resistance, r.heat_stable],
     "env": [env.temperature(now), env.pressure(now), env.humidity(now), i2c.devices[119].last_gas_ohm]})
"""
    res = run_fw(code, tmp_path, hw=chip())
    assert res["before"][:2] == ["SensorTimeout", "timeout"]  # no conversion yet: new_data_0 clear
    # x2 / x4 / x2 oversampling: 8 cycles x 1963 us + 9 x 477 us + 1 ms = 21 ms, + 148 ms of heating.
    assert res["wait"] == 21 + 148
    assert res["written"] == [0x02, 0x4D, 0x00]  # osrs_h x2; osrs_t x2, osrs_p x4, forced; filter off
    assert res["busy"] is True and res["early"][1] == "timeout"
    assert res["after"] == [False, 0]  # back to sleep mode
    (t, p, h, g, stable), (et, ep, eh, eg) = res["r"], res["env"]
    assert abs(t - et) < 0.02 and abs(p - ep) < 0.15 and abs(h - eh) < 0.1
    assert abs(g - eg) / eg < 0.01 and stable is True


def test_absent_wrong_id_unplugged_stuck_skipped_and_bad_calibration(tmp_path):
    code = PRELUDE + """
res = {"absent": err(BME680, i2c, 0x76)}
def make(cfg):
    i2c.devices[119] = bme680_model.BME680Model(machine.environment(), cfg)
import bme680_model
make({"faults": {"chip_id": 0x60}})
res["wrong_id"] = err(BME680, i2c)
make({})
d = BME680(i2c)
i2c.devices[119].unplugged = True
res["unplugged"] = err(d.start_measurement)
make({"faults": {"stuck_measuring": True}})
d = BME680(i2c)
time.sleep_ms(d.start_measurement() + 20)
res["stuck"] = [d.is_measuring(), err(d.read_raw)]
make({"fixed_adc": {"adc_T": 0x80000, "adc_P": 400000, "adc_H": 20000}})
d = BME680(i2c)
time.sleep_ms(d.start_measurement())
res["skipped"] = err(d.read_raw)
make({"calib": {"par_p1": 0}, "fixed_adc": {"adc_T": 480000, "adc_P": 400000, "adc_H": 20000}})
d = BME680(i2c)
res["p1_zero"] = err(measure, d)
make({"faults": {"gas_invalid": True}})
d = BME680(i2c)
d.set_heater(320, 100)
r = measure(d)
res["gas_invalid"] = [r.gas_resistance, r.gas_valid]
make({})
d = BME680(i2c)
d.set_heater(320, 10)  # too short for the hot plate to settle (datasheet: 20-30 ms)
r = measure(d)
res["unstable"] = [r.gas_valid, r.heat_stable]
d.set_heater(None, 0)
r = measure(d)
res["heater_off"] = [r.gas_resistance, r.temperature > -40]
out(res)
"""
    res = run_fw(code, tmp_path, hw=chip())
    assert res["absent"][:2] == ["AbsentError", "absent"] and "0x76" in res["absent"][2]
    assert res["wrong_id"][:2] == ["AbsentError", "absent"] and "0x60" in res["wrong_id"][2]
    assert res["unplugged"][:2] == ["AbsentError", "absent"]
    assert res["stuck"][0] is True and res["stuck"][1][:2] == ["SensorTimeout", "timeout"]
    assert res["skipped"][:2] == ["InvalidDataError", "invalid"]
    assert res["p1_zero"][:2] == ["InvalidDataError", "invalid"] and "par_p1" in res["p1_zero"][2]
    assert res["gas_invalid"] == [None, False]
    assert res["unstable"] == [True, False]
    assert res["heater_off"] == [None, True]


def test_out_of_range_humidity_is_not_clamped(tmp_path):
    """Bosch's calc_humidity clamps to 0..100 %RH; ours keeps the formula's value."""
    code = PRELUDE + """
d = BME680(i2c)
r = measure(d)
out([r.humidity, d.compensate_int(d.raw)[2]])
"""
    high = run_fw(code, tmp_path, hw=chip(fixed_adc={**FIXED, "adc_H": 60000}))
    low = run_fw(code, tmp_path, hw=chip(fixed_adc={**FIXED, "adc_H": 5000}))
    assert high[0] > 100 and high[1] == round(high[0] * 1000)
    assert low[0] < 0


def test_calibration_code_is_unloaded_and_reading_class_loaded_only_by_read(tmp_path):
    """The calibration unpacking runs once per chip and leaves the heap; the sensor layer's integer
    path (read_raw + compensate_int) never loads read()'s Reading class."""
    code = PRELUDE + """
import sys, drivers
d = BME680(i2c)
d.set_heater(320, 150)
time.sleep_ms(d.start_measurement())
d.compensate_int(d.read_raw())
res = {"calibration": ["drivers.bme680_calibration" in sys.modules, hasattr(drivers, "bme680_calibration")],
       "reading_after_int_path": "drivers.bme680_reading" in sys.modules, "par_t1": d.par_t1}
r = d.read()
res["reading_after_read"] = "drivers.bme680_reading" in sys.modules
res["same_object"] = d.read() is r
out(res)
"""
    res = run_fw(code, tmp_path, hw=chip(fixed_adc=FIXED))
    assert res == {"calibration": [False, False], "reading_after_int_path": False, "par_t1": V["calib"]["par_t1"],
                   "reading_after_read": True, "same_object": True}


def test_read_heap(tmp_path):
    """Bytes a read allocates (unix port, 64-bit small ints; on the ESP32 intermediates past 2^30
    become long ints and cost more): read_raw + compensate_int, and the float Reading."""
    code = PRELUDE + """
class RegisterFile:  # a bus that allocates nothing, so only the driver's allocations count
    def __init__(self, regs):
        self.regs = regs
    def readfrom_mem_into(self, addr, reg, buf):
        regs = self.regs
        for i in range(len(buf)):
            buf[i] = regs[reg + i]
    def writeto_mem(self, addr, reg, buf):
        pass
d = BME680(i2c)
d.set_heater(320, 100)
time.sleep_ms(d.start_measurement())
d.read()
d = BME680(RegisterFile(i2c.devices[119].regs))
d.read()
def measure_heap():  # locals, so no global dict grows while measuring
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    raw = d.read_raw()
    d.compensate_int(raw)
    b = gc.mem_alloc()
    d.compensate(raw)
    c = gc.mem_alloc()
    gc.enable()
    return {"int_path": b - a, "float_reading": c - b}
out(measure_heap())
"""
    res = run_fw(code, tmp_path, hw=chip())
    print("BME680 read heap:", res)
    assert res["int_path"] == 0  # the data registers land in the preallocated buffer and list
    assert res["float_reading"] <= 160  # four boxed floats


def test_breath_lowers_gas_resistance_and_raises_humidity(tmp_path):
    code = PRELUDE + """
import os
d = BME680(i2c)
d.set_heater(320, 100)
before = measure(d)
b = [before.gas_resistance, before.humidity, before.temperature]
with open("breath", "w") as f:
    f.write("now")
after = measure(d)
out({"before": b, "after": [after.gas_resistance, after.humidity, after.temperature]})
"""
    hw = chip(breath={"trigger_file": "breath", "gas_drop": 0.6, "humidity_rise": 20.0, "temperature_rise": 1.0,
                      "recovery_s": 30})
    res = run_fw(code, tmp_path, hw=hw)
    (g0, h0, t0), (g1, h1, t1) = res["before"], res["after"]
    # 60 % drop at the peak (the file's mtime has 1 s steps: strength 0.97..1), and the humid breath
    # lowers the clean-air baseline too (exp(-0.012 x 20 %RH) = 0.79): 0.32..0.40 of before.
    assert 0.3 < g1 / g0 < 0.42
    # +20 %RH at the peak, but relative humidity stops at 100 %: on a humid simulated night (the
    # environment follows the host clock, up to 98.5 % before the breath) the rise is what is left.
    assert h1 - h0 > min(10.0, 0.9 * (100.0 - h0)) and h1 <= 100.0
    assert 0.5 < t1 - t0 < 1.5


def test_breath_schedule_decays():
    """breath.py under CPython: periodic starts and exponential recovery."""
    import sys

    from mpy import SIM_HW
    sys.path.insert(0, str(SIM_HW))
    try:
        import breath
    finally:
        sys.path.remove(str(SIM_HW))
    b = breath.Breath({"every_s": 100, "offset_s": 10, "recovery_s": 20})
    assert b.strength(1010) == 1.0
    assert math.isclose(b.strength(1030), math.exp(-1))
    assert b.strength(1109.9) < 0.01 and b.strength(1110) == 1.0
    assert breath.Breath({}).strength(1e9) == 0.0
