"""Firmware encoder (under real MicroPython) -> server decoder: equal up to the documented rounding."""
import json
import re
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datacityzen.ingest.wire_v1 import decode_uplink
from datacityzen.quantities import QUANTITIES
from mpy import encode_cases, run_mpy

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)
T2015 = 1420070400
FLAGS = ["warmup", "out_of_range", "few_samples"]


def wire_decimals(q):
    return QUANTITIES[q]["decimals"] + 1


@st.composite
def value_for(draw, q):
    lo, hi = QUANTITIES[q]["valid_range"]
    return draw(st.one_of(st.floats(lo, hi), st.integers(int(lo), int(hi)),
                          st.floats(-1e6, 1e6)))  # off-range values are kept as measured, never clamped


@st.composite
def readings(draw):
    n = draw(st.integers(1, 6))
    seq = draw(st.integers(0, 2**31 - 1 - 100))
    out = []
    t = draw(st.integers(T2015, int(NOW.timestamp())))
    for _ in range(n):
        seq += draw(st.integers(1, 10))
        t += draw(st.integers(0, 600))
        time = t + draw(st.sampled_from([0, 0.5, 0.125, 0.999]))
        qs = draw(st.lists(st.sampled_from(sorted(QUANTITIES)), unique=True, max_size=len(QUANTITIES)))
        r = {"seq": seq, "time": time if time != t else t, "values": {q: draw(value_for(q)) for q in qs}}
        if qs and draw(st.booleans()):
            r["flags"] = {qs[0]: draw(st.lists(st.sampled_from(FLAGS), min_size=1, max_size=2))}
        if draw(st.booleans()):
            r["errors"] = [{"sensor": draw(st.sampled_from(["bme280", "sds011"])),
                            "error": draw(st.sampled_from(["absent", "checksum", "timeout", "invalid"]))}]
        elif draw(st.booleans()):
            r["errors"] = []  # empty: left out on the wire
        out.append(r)
    return out


uplinks = st.fixed_dictionaries({
    "device": st.from_regex(r"[a-z0-9-]{3,40}", fullmatch=True),
    "kit": st.sampled_from(["air-outdoor-v1", "noise-v1", "pollen-v1", "exhibition-v1"]),
    "firmware": st.text(st.characters(codec="ascii", min_codepoint=32), max_size=12),
    "readings": readings(),
})

JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')

ENCODE_ALL = """
import json
from transport import wire_payload
with open("cases.json") as f:
    cases = json.load(f)
with open("out.txt", "w") as f:
    for c in cases:
        f.write(wire_payload.encode_uplink(c["device"], c["kit"], c["firmware"], c["readings"]).decode())
        f.write("\\n")
"""


def assert_close(got, want, decimals, what):
    tol = 0.5 * 10**-decimals + 1e-9 * abs(want)
    assert abs(got - want) <= tol, f"{what}: {got} vs {want} (±{tol})"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(uplinks, min_size=1, max_size=40))
def test_firmware_encoder_round_trips_through_server_decoder(tmp_path_factory, cases):
    lines = encode_cases(ENCODE_ALL, cases, tmp_path_factory.mktemp("rt"), "2M")
    for case, line in zip(cases, lines):
        assert " " not in JSON_STRING.sub('""', line)  # compact JSON: no space outside strings
        up = decode_uplink(f"dcz/v1/{case['device']}/up", line.encode(), now=NOW)
        assert (up.device, up.kit, up.firmware) == (case["device"], case["kit"], case["firmware"])
        assert len(up.readings) == len(case["readings"])
        for got, want in zip(up.readings, case["readings"]):
            assert got.seq == want["seq"]
            assert_close(got.time.timestamp(), want["time"], 3, "time")
            assert set(got.values) == set(want["values"])
            for q, v in want["values"].items():
                assert_close(got.values[q], v, wire_decimals(q), q)
            assert got.flags == {q: tuple(f) for q, f in want.get("flags", {}).items()}
            assert list(got.errors) == want.get("errors", [])


def test_firmware_decimals_table_matches_quantities_json():
    out = run_mpy("from transport import wire\nimport json\nprint(json.dumps(wire.DECIMALS))").stdout
    assert json.loads(out) == {q: wire_decimals(q) for q in QUANTITIES}


def test_encoder_leaves_out_non_finite_and_non_numbers():
    out = run_mpy("""
from transport import wire_payload
r = {"seq": 1, "time": 1795449600, "values": {"pm10": float("nan"), "pm1": float("inf"), "pm2_5": True,
     "humidity": None, "pressure": 1016.3149}, "flags": {}, "errors": []}
print(wire_payload.encode_uplink("dcz-3f2a9c", "air-outdoor-v1", "0.1.0", [r]).decode())
""").stdout.strip()
    assert out == ('{"version":1,"device":"dcz-3f2a9c","kit":"air-outdoor-v1","firmware":"0.1.0",'
                   '"readings":[{"seq":1,"time":1795449600,"values":{"pressure":1016.31}}]}')
    decode_uplink("dcz/v1/dcz-3f2a9c/up", out.encode(), now=NOW)


def test_batches_stay_within_16_kib_and_100_readings():
    out = run_mpy("""
from transport import wire_payload
vals = {"pm1": 1.23, "pm2_5": 12.34, "pm10": 19.87, "temperature": -11.52, "humidity": 81.43,
        "pressure": 1016.31, "gas_resistance": 123456.7}
rs = [{"seq": 2**31 - 300 + i, "time": 1795449600 + 300 * i, "values": vals,
       "flags": {"pm2_5": ["warmup", "few_samples"]}, "errors": [{"sensor": "bme280", "error": "checksum"}]}
      for i in range(250)]
data, n = wire_payload.encode_batch("dcz-3f2a9c", "air-outdoor-v1", "0.1.0", rs)
small, m = wire_payload.encode_batch("dcz-3f2a9c", "air-outdoor-v1", "0.1.0", rs[:3])
try:
    wire_payload.encode_uplink("dcz-3f2a9c", "air-outdoor-v1", "0.1.0", rs)
    print("no error")
except ValueError:
    pass
print(len(data), n, m, wire_payload.max_batch(len(vals)))
""", heapsize="1M").stdout.split()
    size, n, m, guide = map(int, out)
    assert size <= 16384 and 1 <= n <= 100 and m == 3
    assert guide <= n  # max_batch() guidance is conservative


def test_sent_round_trips_and_a_clock_years_ahead_is_corrected():
    """The firmware writes its clock as `sent`; five years ahead of the server's, the server moves the
    reading back by the difference and flags it."""
    ahead = 5 * 365 * 86400
    now = int(NOW.timestamp())
    out = run_mpy(f"""
from transport import wire_payload
r = {{"seq": 7, "time": {now - 60 + ahead}, "values": {{"pm2_5": 12.34}}}}
print(wire_payload.encode_uplink("dcz-3f2a9c", "air-outdoor-v1", "0.1.0", [r], sent={now + ahead}).decode())
""").stdout.strip()
    assert f'"sent":{now + ahead},' in out
    (r,) = decode_uplink("dcz/v1/dcz-3f2a9c/up", out.encode(), now=NOW).readings
    assert r.time.timestamp() == now - 60
    assert r.flags == {"pm2_5": ("clock_corrected",)}
