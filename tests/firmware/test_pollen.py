"""The pollen proxy under MicroPython: which channel each PM sensor offers, the humidity flag, and the
sampler computing it when the kit asks; the flag name agrees between firmware, docs and decoder."""
import json
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datacityzen.ingest.wire_v1 import KNOWN_FLAGS
from fwsim import run_fw

ROOT = Path(__file__).resolve().parents[2]

DERIVE = """
import json
from sensors.pollen import Derived
d = Derived(json.loads(%r))
res = []
for values, flags in json.loads(%r):
    d.derive(values, flags)
    res.append([values.get("pollen_proxy"), flags.get("pollen_proxy")])
out(res)
"""


def derive(tmp_path, cases, kit=None):
    return run_fw(DERIVE % (json.dumps(kit or {}), json.dumps(cases)), tmp_path, hw={})


def test_each_pm_sensor_gives_its_coarse_channel(tmp_path):
    cases = [
        # PMS5003: particles > 5 um per dL (already including > 10 um: not added twice)
        [{"pm2_5": 8, "pm10": 12, "pn_gt5_0": 7, "pn_gt10": 2, "humidity": 60}, {}],
        # SPS30: 4 to 10 um, from #/cm3 to per dL
        [{"pm2_5": 8.0, "pm10": 12.0, "pn_lt4_0": 30.25, "pn_lt10": 30.5, "humidity": 60}, {}],
        # SDS011: coarse mass
        [{"pm2_5": 8.5, "pm10": 12.0, "humidity": 60}, {}],
        # no PM sensor reported this cycle: nothing
        [{"temperature": 11.0, "humidity": 60}, {}],
    ]
    assert derive(tmp_path, cases) == [[7, None], [25.0, None], [3.5, None], [None, None]]


def test_humidity_flag_negative_value_and_inherited_few_samples(tmp_path):
    cases = [
        [{"pn_gt5_0": 7, "humidity": 75.0}, {}],  # at the threshold: not above it
        [{"pn_gt5_0": 7, "humidity": 75.5}, {}],
        [{"pm2_5": 14.0, "pm10": 12.0, "humidity": 90}, {}],  # noise made PM2.5 exceed PM10: kept
        [{"pn_lt4_0": 3.0, "pn_lt10": 3.5}, {"pn_lt10": ["few_samples"]}],  # no humidity: no judgement
    ]
    assert derive(tmp_path, cases) == [
        [7, None], [7, ["high_humidity"]], [-2.0, ["out_of_range", "high_humidity"]], [50.0, ["few_samples"]]]
    assert derive(tmp_path, cases[:2], kit={"pollen": {"high_humidity_pct": 70}}) == [
        [7, ["high_humidity"]], [7, ["high_humidity"]]]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.floats(0, 3000, allow_nan=False), st.floats(0, 3000, allow_nan=False),
                          st.floats(0, 100, allow_nan=False)), min_size=1, max_size=20))
def test_sps30_proxy_is_the_4_to_10_um_band_per_dl(tmp_path, rows):
    cases = [[{"pn_lt4_0": lo, "pn_lt10": hi, "humidity": rh}, {}] for lo, hi, rh in rows]
    got = derive(tmp_path, cases)
    for (lo, hi, rh), (value, flags) in zip(rows, got):
        assert abs(value - (hi - lo) * 100) <= 1e-6 * max(1.0, abs(hi) * 100)
        assert ("high_humidity" in (flags or [])) == (rh > 75)
        assert ("out_of_range" in (flags or [])) == (value < 0)


def test_sampler_adds_the_proxy_when_the_kit_asks(tmp_path):
    kit = {
        "id": "pollen-v1",
        "buses": {"uart_pm": {"type": "uart", "id": 2, "tx": 17, "rx": 16, "baudrate": 9600},
                  "i2c_climate": {"type": "i2c", "id": 0, "scl": 22, "sda": 21, "freq": 100000}},
        "sensors": [{"type": "pms5003", "bus": "uart_pm"}, {"type": "bme280", "bus": "i2c_climate", "address": 118}],
        "derived": ["pollen_proxy"],
    }
    code = """
import json, asyncio, board, sensors
kit = json.loads(%r)
sampler = sensors.build(kit, board.make_buses(kit), {"average_s": 1, "sample_period_s": 0.25, "warmup_s": 0})
values, flags, errors = {}, {}, []
asyncio.run(sampler.measure(values, flags, errors))
out([sampler.quantities, values, flags, errors])
""" % json.dumps(kit)
    hw = {"uart": {"2": {"chip": "pms5003"}}, "i2c": {"0": {"118": {"chip": "bme280"}}}}
    q, values, flags, errors = run_fw(code, tmp_path, hw=hw)
    assert q[-1] == "pollen_proxy" and errors == []
    assert values["pollen_proxy"] == values["pn_gt5_0"]
    assert ("high_humidity" in flags.get("pollen_proxy", [])) == (values["humidity"] > 75)


def test_unknown_derived_quantity_is_a_clear_error(tmp_path):
    code = """
import sensors
try:
    sensors.build({"sensors": [], "derived": ["pollen_count"]}, {}, {})
    out("built")
except ValueError as e:
    out(str(e))
"""
    msg = run_fw(code, tmp_path, hw={})
    assert "pollen_count" in msg and "pollen_proxy" in msg


def test_flag_names_agree_between_docs_and_decoder():
    doc = (ROOT / "docs" / "wire-format.md").read_text(encoding="utf-8")
    row = next(line for line in doc.splitlines() if line.startswith("| `readings[].flags`"))
    assert tuple(re.findall(r"`([a-z_]+)` \(", row)) == KNOWN_FLAGS
    pollen = (ROOT / "firmware" / "sensors" / "pollen.py").read_text(encoding="utf-8")
    assert '"high_humidity"' in pollen
