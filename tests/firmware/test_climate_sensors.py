"""Climate sensors (bme680, sht3x, sht4x) in the sensor layer, under MicroPython with simulated chips."""
import json
import re

from fwsim import run_fw
from mpy import FIRMWARE, KITS

CYCLE = """
import json, asyncio, gc, time, machine
import board, sensors
kit = json.loads(%r)
buses = board.make_buses(kit)
sampler = sensors.build(kit, buses, {"average_s": 1, "sample_period_s": 0.5, "warmup_s": 0})
values, flags, errors = {}, {}, []
def cycle():
    values.clear(); flags.clear(); errors.clear()
    asyncio.run(sampler.measure(values, flags, errors))
    return {"values": dict(values), "flags": dict(flags), "errors": list(errors)}
"""


def kit(*sensors):
    return {"id": "climate-test", "buses": {"i2c": {"type": "i2c", "id": 0, "scl": 22, "sda": 21}},
            "sensors": [{"bus": "i2c", **s} for s in sensors]}


def run(tmp_path, k, hw, body="out(cycle())\n"):
    return run_fw(CYCLE % json.dumps(k) + body, tmp_path, hw={"uart": {}, "i2c": {"0": hw}})


def test_bme680_cycle_gives_four_quantities_with_the_kit_heater(tmp_path):
    body = """
first = cycle()
regs = buses["i2c"].devices[119].regs
out({"first": first, "q": sampler.quantities, "res_heat": regs[0x5A], "gas_wait": regs[0x64]})
"""
    res = run(tmp_path, kit({"type": "bme680", "heater": {"temperature_c": 300, "duration_ms": 100}}),
              {"119": {"chip": "bme680"}}, body)
    assert res["q"] == ["temperature", "humidity", "pressure", "gas_resistance"]
    assert res["first"]["flags"] == {} and res["first"]["errors"] == []
    v = res["first"]["values"]
    assert -10 < v["temperature"] < 40 and 30 < v["humidity"] <= 100 and 950 < v["pressure"] < 1060
    assert 10000 < v["gas_resistance"] < 1e6
    assert res["gas_wait"] == 0x59  # 100 ms = 25 x 4
    default = run(tmp_path, kit({"type": "bme680"}), {"119": {"chip": "bme680"}}, body)
    assert default["res_heat"] > res["res_heat"]  # 320 degC by default, 300 asked


def test_bme680_gas_off_invalid_and_absent(tmp_path):
    off = run(tmp_path, kit({"type": "bme680", "heater": None}), {"119": {"chip": "bme680"}})
    assert sorted(off["values"]) == ["humidity", "pressure", "temperature"] and off["errors"] == []
    bad = run(tmp_path, kit({"type": "bme680"}), {"119": {"chip": "bme680", "faults": {"gas_invalid": True}}})
    assert sorted(bad["values"]) == ["humidity", "pressure", "temperature"]
    assert bad["errors"] == [{"sensor": "bme680", "error": "invalid"}]
    body = """
first = cycle()
import bme680_model
buses["i2c"].devices[119] = bme680_model.BME680Model(machine.environment(), {"chip": "bme680"})
out([first, cycle()])
"""
    first, second = run(tmp_path, kit({"type": "bme680"}), {}, body)
    assert first["errors"] == [{"sensor": "bme680", "error": "absent"}] and first["values"] == {}
    assert second["errors"] == [] and len(second["values"]) == 4


def test_bme680_cycle_heap_is_flat(tmp_path):
    body = """
cycle()
gc.collect(); a = gc.mem_alloc()
for i in range(3):
    cycle()
gc.collect(); b = gc.mem_alloc()
out({"growth": b - a, "free": gc.mem_free()})
"""
    res = run(tmp_path, kit({"type": "bme680"}), {"119": {"chip": "bme680"}}, body)
    print("bme680 cycle heap:", res)
    assert res["growth"] < 512 and res["free"] > 40000


def test_sht3x_checksum_errors_reported_good_samples_kept_and_replug(tmp_path):
    res = run(tmp_path, kit({"type": "sht3x", "address": 68}),
              {"68": {"chip": "sht3x", "faults": {"crc_error_every": 2}}})
    assert res["errors"] == [{"sensor": "sht3x", "error": "checksum"}]
    assert sorted(res["values"]) == ["humidity", "temperature"]
    body = """
first = cycle()
import sht3x_model
buses["i2c"].devices[68] = sht3x_model.SHT3xModel(machine.environment(), {"chip": "sht3x"})
out([first, cycle()])
"""
    first, second = run(tmp_path, kit({"type": "sht3x", "address": 68}), {}, body)
    assert first["errors"] == [{"sensor": "sht3x", "error": "absent"}]
    assert second["errors"] == [] and sorted(second["values"]) == ["humidity", "temperature"]
    stuck = run(tmp_path, kit({"type": "sht3x", "address": 68}),
                {"68": {"chip": "sht3x", "faults": {"stuck_measuring": True}}})
    assert stuck["errors"] == [{"sensor": "sht3x", "error": "timeout"}] and stuck["values"] == {}


def test_sht4x_humidity_past_100_is_kept_and_flagged_serial_logged(tmp_path):
    k = kit({"type": "sht4x", "address": 68})
    proc_body = "out(cycle())\n"
    hw = {"68": {"chip": "sht4x", "serial": 0xCAFE0042, "fixed_raw": [26214, 62000]}}
    res = run(tmp_path, k, hw, proc_body)
    h = -6 + 125 * 62000 / 65535
    assert abs(res["values"]["humidity"] - h) < 0.001 and h > 100
    assert res["flags"] == {"humidity": ["out_of_range"]}
    assert res["values"]["temperature"] == 25.0
    from mpy import run_mpy  # the serial line on the console, once
    from fwsim import PRELUDE, compiled_dir
    (tmp_path / "sim_hw.json").write_text(json.dumps({"uart": {}, "i2c": {"0": hw}}))
    proc = run_mpy(PRELUDE + CYCLE % json.dumps(k) + "cycle(); cycle()\n", cwd=tmp_path,
                   extra_path=(compiled_dir(),))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("dcz sensor_serial")]
    assert len(lines) == 1 and "serial=cafe0042" in lines[0] and "sensor=sht4x" in lines[0]
    crc = run(tmp_path, k, {"68": {"chip": "sht4x", "faults": {"crc_error_every": 3}}})
    assert crc["errors"] == [{"sensor": "sht4x", "error": "checksum"}] and "humidity" in crc["values"]


def test_sensor_definitions_match_the_modules():
    """kits/sensors.json and the sensor modules state the same quantities, ranges, warm-up, heater."""
    defs = json.loads((KITS / "sensors.json").read_text())["sensors"]
    quantities = json.loads((KITS / "quantities.json").read_text())["quantities"]
    registered = (FIRMWARE / "sensors" / "from_kit.py").read_text()  # the table of sensor modules
    for name, module in (("bme680", "climate_bme680"), ("sht3x", "climate_sht3x"), ("sht4x", "climate_sht4x")):
        src = (FIRMWARE / "sensors" / f"{module}.py").read_text()
        d = defs[name]
        assert f'"{name}": "{module}"' in registered
        assert d["bus"] == "i2c" and all(q in quantities for q in d["quantities"])
        q = eval(re.search(r"^QUANTITIES = (.*)$", src, re.M).group(1))
        ranges = eval(re.search(r"^_RANGES = (.*)$", src, re.M).group(1))
        assert list(q) == d["quantities"], name
        assert [list(r) for r in ranges] == [d["specified_range"][x] for x in q], name
        assert int(re.search(r"^WARMUP_S = (\d+)", src, re.M).group(1)) == d["warmup_s"]
        assert d["source"]
    src = (FIRMWARE / "sensors" / "climate_bme680.py").read_text()
    assert defs["bme680"]["heater"] == {"temperature_c": int(re.search(r"^HEATER_C = (\d+)", src, re.M).group(1)),
                                        "duration_ms": int(re.search(r"^HEATER_MS = (\d+)", src, re.M).group(1))}
