"""LoRaWAN payload v1: firmware encoder (under real MicroPython) -> server decoder (CPython), equal up to
the documented resolution; and the payload sizes docs/wire-format.md states, per kit."""
import json
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datacityzen.ingest.lorawan_v1 import FIELDS, FLAG_BITS, LAYOUTS, decode_payload
from mpy import encode_cases, run_mpy
from typical_readings import series

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)
T2024 = 1704067200


def step(q):
    bits, scale, low = FIELDS[q]
    return 0.1 if scale == 0 else 1 / scale


def field_max(q):
    bits, scale, low = FIELDS[q]
    top = (1 << bits) - 2
    return 7382.0 if scale == 0 else top / scale + low


@st.composite
def batches(draw):
    layout = draw(st.sampled_from(sorted(LAYOUTS)))
    qs = LAYOUTS[layout][2]
    n = draw(st.integers(1, 12))
    seq = draw(st.integers(0, 2**28 - 1 - 12 * 200))
    t = draw(st.integers(T2024, int(NOW.timestamp())))
    out = []
    for _ in range(n):
        present = draw(st.lists(st.sampled_from(qs), unique=True, min_size=0, max_size=len(qs)))
        values = {}
        for q in present:
            lo = FIELDS[q][2]
            values[q] = draw(st.floats(lo, min(field_max(q), lo + 1e6), allow_nan=False))
        r = {"seq": seq, "time": t, "values": values}
        if present and draw(st.booleans()):
            r["flags"] = {present[0]: draw(st.lists(st.sampled_from(FLAG_BITS), min_size=1, max_size=3, unique=True))}
        out.append(r)
        seq += draw(st.integers(1, 150))
        t += draw(st.integers(0, 4000))
    kit, variant, _ = LAYOUTS[layout]
    return {"kit": kit, "variant": variant, "readings": out}


ENCODE_ALL = """
import json
from transport.lorawan_wire import Encoder, layout_for
with open("cases.json") as f:
    cases = json.load(f)
with open("out.txt", "w") as f:
    for c in cases:
        enc = Encoder(layout_for(c["kit"], c["variant"]), 222)
        mv, n = enc.encode(c["readings"], 222)
        f.write("%d %s\\n" % (n, bytes(mv).hex()))
"""


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(batches(), min_size=1, max_size=30))
def test_firmware_encoder_round_trips_through_server_decoder(tmp_path_factory, cases):
    lines = encode_cases(ENCODE_ALL, cases, tmp_path_factory.mktemp("lrt"), "1M")
    for case, line in zip(cases, lines):
        n_text, hexed = line.split()
        n = int(n_text)
        payload = bytes.fromhex(hexed)
        assert 1 <= n <= len(case["readings"]) and len(payload) <= 222
        kit, readings = decode_payload(payload, 1, now=NOW)
        assert kit == case["kit"]
        assert len(readings) == n
        for got, want in zip(readings, case["readings"]):
            assert got.seq == want["seq"]
            assert got.time.timestamp() == want["time"]
            assert set(got.values) == set(want["values"])
            for q, v in want["values"].items():
                # 0.1 ug/m3 below 1000 for masses, 1 ug/m3 above; the field's step otherwise
                tol = (0.5 if v >= 999.95 else 0.05) if FIELDS[q][1] == 0 else step(q) / 2
                assert abs(got.values[q] - v) <= tol + 1e-6 * abs(v), (q, got.values[q], v)
            assert got.flags == {q: tuple(f for f in FLAG_BITS if f in fl) for q, fl in want.get("flags", {}).items()}


def test_values_the_fields_cannot_hold_are_left_out_not_clamped():
    out = run_mpy("""
from transport.lorawan_wire import Encoder
e = Encoder(1)
r = {"seq": 7, "time": 1795449600, "values": {"pm2_5": -3.0, "pm10": float("nan"), "temperature": 150.0,
     "humidity": 55.55, "pressure": 1016.31, "noise_laeq": 40.0}}
mv, n = e.encode([r])
print(bytes(mv).hex(), e.skipped)
""").stdout.split()
    kit, (reading,) = decode_payload(bytes.fromhex(out[0]), 1, now=NOW)
    assert reading.values == {"humidity": 55.6, "pressure": 1016.3}
    assert int(out[1]) == 4  # pm2_5 below 0, NaN, 150 degC, a quantity outside the layout


SIZES = """
import json
from transport.lorawan_wire import Encoder, LAYOUTS
with open("series.json") as f:
    series = json.load(f)
out = {}
for lid in LAYOUTS:
    kit, variant, qs = LAYOUTS[lid]
    e = Encoder(lid, 222)
    rs = series[str(lid)]
    one = len(e.encode(rs[:1])[0])
    two = len(e.encode(rs[:2])[0])
    per_dr = {}
    for limit in (51, 115, 222):
        mv, n = e.encode(rs, limit)
        per_dr[limit] = [n, len(mv)]
    out[kit + ("/" + variant if variant else "")] = {"first": one, "next": two - one, "fit": per_dr}
print(json.dumps(out))
"""


def test_payload_sizes_per_kit(tmp_path):
    """The figures of docs/wire-format.md: an uplink of one reading, a further reading in a batch,
    readings per uplink at each maximum payload (51 B at DR0-2, 115 at DR3, 222 at DR4-5), for a
    plausible series of readings 145 s apart (typical_readings.py)."""
    (tmp_path / "series.json").write_text(json.dumps({lid: series(qs, 145, 40) for lid, (_, _, qs) in LAYOUTS.items()}))
    sizes = json.loads(run_mpy(SIZES, cwd=tmp_path, heapsize="1M").stdout)
    print("LoRaWAN payload v1 sizes (bytes):", json.dumps(sizes))
    outdoor = sizes["air-outdoor-v1"]
    assert outdoor["first"] == 16  # 4-byte header + a 12-byte first reading (time included)
    assert outdoor["first"] - 4 <= 12
    assert outdoor["next"] <= 10
    for kit, s in sizes.items():
        assert s["first"] <= 51, kit  # one reading fits even at SF12
        assert s["fit"]["51"][1] <= 51 and s["fit"]["222"][1] <= 222
        assert s["fit"]["222"][0] >= s["fit"]["51"][0] >= 1
