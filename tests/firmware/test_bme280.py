"""BME280 driver, run under MicroPython against the simulated chip: Bosch vectors, absence, wrong id."""
import json
from pathlib import Path

import pytest

from fwsim import run_fw

VECTORS = json.loads((Path("/work/shared/data") / "bosch_compensation_test_vectors.json").read_text())

READ = """
import machine
from drivers.bme280 import BME280
drv = BME280(machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21)), 0x76)
raw = drv.read_raw()
out({"raw": list(raw), "int": list(drv.compensate_int(raw)), "float": list(drv.compensate(raw)),
     "calib": [getattr(drv, k) for k in ("T1","T2","T3","P1","P2","P3","P4","P5","P6","P7","P8","P9","H1","H2","H3","H4","H5","H6")]})
"""
NAMES = ["T1", "T2", "T3", "P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9", "H1", "H2", "H3", "H4", "H5", "H6"]


def chip(calib, data, **faults):
    return {"i2c": {"0": {"118": {"chip": "bme280", "calib": calib, "fixed_data": data, "faults": faults}}}}


def raw_bytes(adc_t, adc_p, adc_h):
    return [adc_p >> 12, (adc_p >> 4) & 0xFF, (adc_p & 0xF) << 4,
            adc_t >> 12, (adc_t >> 4) & 0xFF, (adc_t & 0xF) << 4, adc_h >> 8, adc_h & 0xFF]


@pytest.mark.parametrize("name", ["bme280_1", "bme280_2"])
def test_bosch_vectors(tmp_path, name):
    v = VECTORS[name]
    res = run_fw(READ, tmp_path, hw=chip(v["calib"], v["raw_bytes_F7_FE"]))
    assert res["calib"] == [v["calib"][k] for k in NAMES]  # trimming words survive the register packing
    assert res["raw"] == [v["adc_T"], v["adc_P"], v["adc_H"]]
    t, p_hpa, h = res["float"]
    ct, cp, ch = v["computed"]  # the datasheet's double-precision formulas
    # Integer formulas: T has 0.01 degC steps, P 1/256 Pa, H 1/1024 %RH.
    assert abs(t - ct) <= 0.005 + 1e-9
    assert abs(p_hpa * 100 - cp) < 1.0
    assert abs(h - ch) < 0.05
    assert round(t, 2) == round(v["expected_T_C"], 2)
    assert abs(p_hpa * 100 - v["expected_P_Pa"]) < 1.0
    assert abs(h - v["expected_RH_pct"]) < 0.1


def test_datasheet_int64_pressure_example(tmp_path):
    """BMP280/BME280 datasheet example (T and P words are common to both chips): 25.08 degC,
    100653 Pa from the 64-bit integer formula."""
    v = VECTORS["bmp280_datasheet_example"]
    res = run_fw(READ, tmp_path, hw=chip(v["calib"], raw_bytes(v["adc_T"], v["adc_P"], 0x6000)))
    t_centi, p_q24_8, _ = res["int"]
    assert t_centi == 2508
    assert p_q24_8 >> 8 == v["expected_P_Pa_int64"]
    assert abs(p_q24_8 / 256 - v["expected_P_Pa_float"]) < 0.5


def test_absent_chip_raises_absent_error(tmp_path):
    code = """
import machine
from drivers.bme280 import BME280
from drivers.errors import AbsentError
try:
    BME280(machine.I2C(0), 0x76)
    out("no error")
except AbsentError as e:
    out([e.kind, e.sensor, str(e.args[1])])
"""
    kind, sensor, msg = run_fw(code, tmp_path, hw={"i2c": {"0": {"119": {"chip": "bme280"}}}})
    assert (kind, sensor) == ("absent", "bme280")
    assert "0x76" in msg


def test_wrong_chip_id_is_absent(tmp_path):
    code = """
import machine
from drivers.bme280 import BME280
from drivers.errors import AbsentError
try:
    BME280(machine.I2C(0), 0x76)
    out("no error")
except AbsentError as e:
    out([e.kind, str(e.args[1])])
"""
    kind, msg = run_fw(code, tmp_path, hw={"i2c": {"0": {"118": {"chip": "bme280", "faults": {"chip_id": 0x58}}}}})
    assert kind == "absent"
    assert "0x58" in msg


def test_forced_measurement_registers_timing_and_values(tmp_path):
    code = """
import time, machine, sim_env
from drivers.bme280 import BME280
from drivers.errors import InvalidDataError
i2c = machine.I2C(0)
drv = BME280(i2c, 0x76)
try:
    drv.read_raw()
    before = "no error"
except InvalidDataError as e:
    before = e.kind
wait = drv.start_measurement()
regs = i2c.devices[118].regs
written = [regs[0xF2], regs[0xF4], regs[0xF5]]
measuring = drv.is_measuring()
time.sleep_ms(wait)
done = drv.is_measuring()
t, p, h = drv.read()
env = machine.environment()
now = sim_env.now()
out({"before": before, "wait": wait, "written": written, "measuring": measuring, "done": done,
     "mode_after": regs[0xF4] & 3, "read": [t, p, h],
     "env": [env.temperature(now), env.pressure(now), env.humidity(now)]})
"""
    res = run_fw(code, tmp_path, hw={"i2c": {"0": {"118": {"chip": "bme280"}}}})
    assert res["before"] == "invalid"  # data registers still hold their reset value
    assert res["wait"] == 10  # 1.25 + 2.3 + 2.875 + 2.875 = 9.3 ms, rounded up
    assert res["written"] == [0x01, 0x25, 0x00]  # x1 oversampling everywhere, forced mode, filter off
    assert (res["measuring"], res["done"], res["mode_after"]) == (True, False, 0)
    (t, p, h), (et, ep, eh) = res["read"], res["env"]
    # The model inverts the datasheet's compensation: the driver reads back the simulated air.
    assert abs(t - et) < 0.05 and abs(p - ep) < 0.05 and abs(h - eh) < 0.2
    assert -10 < t < 40 and 950 < p < 1050 and 30 < h < 100
