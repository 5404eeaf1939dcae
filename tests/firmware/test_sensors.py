"""The sensor layer, run under MicroPython with the simulated kit: values, flags, errors, duty cycle."""
import copy

from fwsim import HEALTHY, KIT, run_fw

CYCLE = """
import json, asyncio, gc, time, machine
import board, sensors
kit = json.loads(%r)
sampling = json.loads(%r)
buses = board.make_buses(kit)
sampler = sensors.build(kit, buses, sampling)
values, flags, errors = {}, {}, []
def cycle():
    values.clear(); flags.clear(); errors.clear()
    t0 = time.ticks_ms()
    asyncio.run(sampler.measure(values, flags, errors))
    return time.ticks_diff(time.ticks_ms(), t0)
"""
FAST = {"interval_s": 10, "average_s": 1, "sample_period_s": 0.5, "warmup_s": 0}


def cycle(tmp_path, hw, body="ms = cycle()\nout({'values': values, 'flags': flags, 'errors': errors, 'ms': ms, 'q': sampler.quantities})\n",
          sampling=FAST, kit=KIT):
    import json
    return run_fw(CYCLE % (json.dumps(kit), json.dumps(sampling)) + body, tmp_path, hw=hw)


def test_healthy_kit_gives_every_quantity_without_flags(tmp_path):
    res = cycle(tmp_path, HEALTHY)
    assert res["q"] == ["pm2_5", "pm10", "temperature", "humidity", "pressure"]
    assert set(res["values"]) == set(res["q"])
    assert res["flags"] == {} and res["errors"] == []
    v = res["values"]
    assert 0 < v["pm2_5"] <= v["pm10"] < 300 and -10 < v["temperature"] < 40
    assert 30 < v["humidity"] <= 100 and 950 < v["pressure"] < 1060
    assert 900 <= res["ms"] < 1500


def test_missing_pm_sensor_times_out_and_climate_still_reported(tmp_path):
    hw = copy.deepcopy(HEALTHY)
    hw["uart"] = {}
    res = cycle(tmp_path, hw)
    assert res["errors"] == [{"sensor": "sds011", "error": "timeout"}]
    assert set(res["values"]) == {"temperature", "humidity", "pressure"}


def test_absent_bme280_is_reported_and_found_again_when_plugged_back(tmp_path):
    hw = copy.deepcopy(HEALTHY)
    hw["i2c"] = {"0": {}}
    body = """
cycle()
first = [sorted(values), list(errors)]
import bme280_model
buses["i2c_climate"].devices[118] = bme280_model.BME280Model(machine.environment(), {"chip": "bme280"})
cycle()
out({"first": first, "second": [sorted(values), errors]})
"""
    res = cycle(tmp_path, hw, body=body)
    assert res["first"] == [["pm10", "pm2_5"], [{"sensor": "bme280", "error": "absent"}]]
    assert res["second"] == [["humidity", "pm10", "pm2_5", "pressure", "temperature"], []]


def test_checksum_errors_are_reported_and_good_frames_still_averaged(tmp_path):
    hw = copy.deepcopy(HEALTHY)
    hw["uart"]["2"]["faults"] = {"checksum_error_every": 2}
    res = cycle(tmp_path, hw)
    assert res["errors"] == [{"sensor": "sds011", "error": "checksum"}]
    assert "pm2_5" in res["values"] and "pm2_5" not in res["flags"]


def test_few_samples_flag(tmp_path):
    hw = copy.deepcopy(HEALTHY)
    hw["uart"]["2"]["period_s"] = 3.5  # one frame in a 4 s window where 4 are planned
    res = cycle(tmp_path, hw, sampling={"interval_s": 10, "average_s": 4, "sample_period_s": 2, "warmup_s": 0})
    assert res["flags"] == {"pm2_5": ["few_samples"], "pm10": ["few_samples"]}
    assert res["errors"] == []


def test_out_of_range_value_is_kept_and_flagged(tmp_path):
    # Raw temperature of a chip at about 96 degC (bme280_1 trimming words): kept, never clamped.
    hw = copy.deepcopy(HEALTHY)
    adc_t, adc_p, adc_h = 760000, 284052, 35181
    hw["i2c"]["0"]["118"]["fixed_data"] = [adc_p >> 12, (adc_p >> 4) & 0xFF, (adc_p & 0xF) << 4,
                                           adc_t >> 12, (adc_t >> 4) & 0xFF, (adc_t & 0xF) << 4,
                                           adc_h >> 8, adc_h & 0xFF]
    res = cycle(tmp_path, hw)
    assert res["values"]["temperature"] > 85
    assert res["flags"]["temperature"] == ["out_of_range"]


def test_pm_fan_runs_only_around_the_measurement(tmp_path):
    body = """
dev = buses["uart_pm"].device
cycle()
out({"awake": dev.awake, "commands": dev.commands})
"""
    res = cycle(tmp_path, HEALTHY, body=body)
    assert res["awake"] is False
    assert res["commands"] == [[2, 1, 0], [6, 1, 1], [6, 1, 0]]  # active mode, work, sleep


def test_warmup_awaits_without_blocking_other_tasks(tmp_path):
    body = """
ticks = [0]
async def other():
    while True:
        ticks[0] += 1
        await asyncio.sleep_ms(20)
async def main():
    t = asyncio.create_task(other())
    await sampler.measure(values, flags, errors)
    t.cancel()
t0 = time.ticks_ms()
asyncio.run(main())
out({"ticks": ticks[0], "ms": time.ticks_diff(time.ticks_ms(), t0), "values": sorted(values)})
"""
    res = cycle(tmp_path, HEALTHY, body=body, sampling={**FAST, "warmup_s": 0.5})
    assert res["ms"] >= 1500  # 0.5 s warm-up + 1 s window
    assert res["ticks"] >= 0.8 * res["ms"] / 20
    assert len(res["values"]) == 5


def test_default_warmup_comes_from_the_datasheet(tmp_path):
    body = "out([s.warmup_ms for s in sampler._sensors])\n"
    assert cycle(tmp_path, HEALTHY, body=body, sampling={"average_s": 1, "sample_period_s": 1}) == [30000, 0]
    kit = copy.deepcopy(KIT)
    kit["sensors"][0]["warmup_s"] = 20
    assert cycle(tmp_path, HEALTHY, body=body, kit=kit, sampling={"average_s": 1, "sample_period_s": 1}) == [20000, 0]


def test_cycle_heap_is_flat(tmp_path):
    body = """
cycle()
gc.collect(); a = gc.mem_alloc()
for i in range(3):
    cycle()
gc.collect(); b = gc.mem_alloc()
out({"growth": b - a, "free": gc.mem_free()})
"""
    res = cycle(tmp_path, HEALTHY, body=body, sampling={**FAST, "average_s": 0.5})
    assert res["growth"] < 512
    assert res["free"] > 40000  # the firmware's sensing half plus the simulated chips, in a 110 KB heap


def test_build_and_window_state_leave_the_heap_between_cycles(tmp_path):
    """sensors/from_kit.py serves build() only, and a window's lists serve one cycle: neither stays
    in the heap while the app spools and publishes."""
    body = """
import sys
cycle()
out({"module": "sensors.from_kit" in sys.modules, "attr": hasattr(sensors, "from_kit"),
     "values": sorted(values), "active": len(sampler._active),
     "window_lists": [[s.win._sums, s.win._counts, s.win._extra] for s in sampler._sensors]})
"""
    res = cycle(tmp_path, HEALTHY, body=body)
    assert res == {"module": False, "attr": False, "values": ["humidity", "pm10", "pm2_5", "pressure", "temperature"],
                   "active": 0,
                   # a window's per-quantity lists exist from reset() to report() only, not between cycles
                   "window_lists": [[None, None, None], [None, None, None]]}


def test_unknown_sensor_type_is_a_clear_error(tmp_path):
    kit = copy.deepcopy(KIT)
    kit["sensors"].append({"type": "pms9999", "bus": "uart_pm"})
    code_err = """
try:
    sensors.build(json.loads(%r), buses, sampling)
    out("built")
except ValueError as e:
    out(str(e))
"""
    import json
    res = cycle(tmp_path, HEALTHY, body=code_err % json.dumps(kit))
    assert "pms9999" in res and "sds011" in res


def test_cycle_from_source_files(tmp_path):
    """The same cycle from the .py sources (the unix port compiles them; that needs a bigger heap)."""
    import json
    res = run_fw(CYCLE % (json.dumps(KIT), json.dumps(FAST)) + "cycle()\nout(sorted(values))\n",
                 tmp_path, hw=HEALTHY, heapsize="256K", source=True)
    assert res == ["humidity", "pm10", "pm2_5", "pressure", "temperature"]


def test_frames_after_the_last_sample_still_count_for_the_window(tmp_path):
    """The SDS011 reports once a second on its own. A frame that arrives after the window's last
    sample (a window of one sample period, a busy CPU) is read when the window ends, before the fan
    stops: the window is not left empty."""
    hw = copy.deepcopy(HEALTHY)
    hw["uart"]["2"]["period_s"] = 1.0
    res = cycle(tmp_path, hw, body="""
pm = sampler._sensors[0]
pm.win.reset(1)
pm.begin()
pm.start_window()
time.sleep(1.5)  # a frame arrives; no sample() looks at it
pm.end()
pm.win.report(values, flags, errors)
out({'values': sorted(values), 'errors': errors})
""")
    assert res == {"values": ["pm10", "pm2_5"], "errors": []}
