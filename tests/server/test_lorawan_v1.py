"""The LoRaWAN payload v1 decoder: malformed payloads give a DecodeError with a reason (never another
exception), the firmware's and the server's tables are the same, every kit has its layout, and the
CayenneLPP comparison of docs/wire-format.md."""
import importlib.util
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datacityzen.ingest import lorawan_v1
from datacityzen.ingest.lorawan_v1 import FIELDS, LAYOUTS, decode_payload
from datacityzen.ingest.wire_v1 import DecodeError
from datacityzen.kits import Registry, resolve
from datacityzen.sim.runner import load_kit

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)


def firmware_wire():
    """firmware/transport/lorawan_wire.py loaded under CPython (it runs there too, as the simulator's
    fallback does): an encoder to feed the decoder many cases quickly."""
    spec = importlib.util.spec_from_file_location("fw_lorawan_wire", ROOT / "firmware/transport/lorawan_wire.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("micropython", type(sys)("micropython"))
    spec.loader.exec_module(mod)
    return mod


FW = firmware_wire()


def test_firmware_and_server_tables_are_the_same():
    assert FW.FIELDS == FIELDS
    assert FW.LAYOUTS == LAYOUTS
    assert FW.FLAG_BITS == lorawan_v1.FLAG_BITS
    assert (FW.EPOCH, FW.FPORT_V1) == (lorawan_v1.EPOCH, lorawan_v1.FPORT_V1)


def test_fields_cover_every_quantity_at_its_display_resolution():
    quantities = json.loads((ROOT / "kits/quantities.json").read_text())["quantities"]
    assert set(FIELDS) == set(quantities)
    for q, spec in quantities.items():
        bits, scale, low = FIELDS[q]
        lo, hi = spec["valid_range"]
        if scale == 0:  # particle masses: 0.1 up to 999.9, then 1 ug/m3 up to 7382
            assert spec["decimals"] == 1 and hi <= 7382
            continue
        assert scale == 10 ** spec["decimals"], q
        assert low <= lo and (hi - low) * scale < (1 << bits) - 1, q  # the valid range fits, "no value" apart


@pytest.mark.parametrize("kit_id,variant", [
    ("air-outdoor-v1", None), ("air-outdoor-v1", "sps30"), ("air-indoor-v1", None), ("noise-v1", None),
    ("noise-v1", "ics43434"), ("noise-v1", "sph0645"), ("pollen-v1", None), ("pollen-v1", "sps30"),
    ("exhibition-v1", None)])
def test_every_kit_has_a_layout_with_exactly_its_quantities(kit_id, variant):
    registry = Registry.load()
    kit = resolve(load_kit(kit_id), variant)
    declared = set(kit.get("derived") or [])
    for entry in kit["sensors"]:
        declared |= set(registry.sensors[entry["type"]]["quantities"])
    lid = FW.layout_for(kit_id, variant)
    assert set(LAYOUTS[lid][2]) == declared


def encode(readings, layout=1, limit=222):
    mv, n = FW.Encoder(layout, 222).encode(readings, limit)
    return bytes(mv), n


VALS = {"pm2_5": 12.3, "pm10": 19.8, "temperature": -4.5, "humidity": 81.4, "pressure": 1016.3}


def test_a_known_payload_decodes_to_its_readings():
    payload, n = encode([{"seq": 41, "time": 1795449600, "values": VALS, "flags": {"pm2_5": ["warmup"]}},
                         {"seq": 43, "time": 1795449745, "values": dict(VALS, pm2_5=13.0)}])
    assert n == 2
    kit, (a, b) = decode_payload(payload, 1, now=NOW)
    assert kit == "air-outdoor-v1"
    assert (a.seq, a.time.timestamp(), a.values, a.flags) == (41, 1795449600, VALS, {"pm2_5": ("warmup",)})
    assert (b.seq, b.time.timestamp(), b.values["pm2_5"], b.flags) == (43, 1795449745, 13.0, {})


@pytest.mark.parametrize("payload,fport,reason", [
    (b"", 1, "payload ends inside the header"),
    (b"\x10\x00\x00\x05", 1, "payload ends inside"),
    (bytes.fromhex("f0000005") + bytes(12), 1, "layout 15 unknown"),
    (bytes(16), 1, "layout 0 unknown"),
    (bytes.fromhex("10000005") + bytes(12), 2, "fPort 2"),
    (bytes(300), 1, "exceeds"),
])
def test_malformed_payloads_say_why(payload, fport, reason):
    with pytest.raises(DecodeError) as exc:
        decode_payload(payload, fport, now=NOW)
    assert reason in exc.value.reason


def test_a_time_before_2015_or_a_day_ahead_is_refused():
    good, _ = encode([{"seq": 1, "time": 1795449600, "values": VALS}])
    with pytest.raises(DecodeError, match="in the future"):
        decode_payload(good, 1, now=datetime(2026, 11, 1, tzinfo=timezone.utc))
    early, _ = encode([{"seq": 1, "time": 1577836800 + 10, "values": VALS}])
    decode_payload(early, 1, now=NOW)  # 2020 is fine
    bad_pad = bytearray(good)
    bad_pad[-1] |= 0x03  # 62 value bits: the 2 padding bits must be 0
    with pytest.raises(DecodeError, match="padding"):
        decode_payload(bytes(bad_pad), 1, now=NOW)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=260), st.integers(0, 255))
def test_any_bytes_decode_or_give_a_reason(payload, fport):
    try:
        kit, readings = decode_payload(payload, fport, now=NOW)
    except DecodeError as exc:
        assert exc.reason
        return
    assert kit in {k for k, _, _ in LAYOUTS.values()}
    seqs = [r.seq for r in readings]
    assert seqs == sorted(set(seqs)) and all(0 <= s < 2**31 for s in seqs)


@st.composite
def encoded(draw):
    layout = draw(st.sampled_from(sorted(LAYOUTS)))
    qs = LAYOUTS[layout][2]
    seq = draw(st.integers(0, 2**28 - 2000))
    t = draw(st.integers(1704067200, 1795449600))
    rs = []
    for _ in range(draw(st.integers(1, 8))):
        vals = {q: draw(st.floats(FIELDS[q][2], FIELDS[q][2] + 900, allow_nan=False))
                for q in draw(st.lists(st.sampled_from(qs), unique=True))}
        rs.append({"seq": seq, "time": t, "values": vals})
        seq += draw(st.integers(1, 100))
        t += draw(st.integers(0, 900))
    return encode(rs, layout)[0]


@settings(max_examples=300, deadline=None)
@given(encoded(), st.data())
def test_damaged_payloads_decode_or_give_a_reason(payload, data):
    """Bytes flipped, cut or appended by a broken radio path or a forged webhook: a DecodeError with a
    reason or readings that pass the same checks, never another exception."""
    damaged = bytearray(payload)
    kind = data.draw(st.sampled_from(["flip", "cut", "append"]))
    if kind == "flip":
        i = data.draw(st.integers(0, len(damaged) - 1))
        damaged[i] ^= data.draw(st.integers(1, 255))
    elif kind == "cut":
        damaged = damaged[:data.draw(st.integers(0, len(damaged) - 1))]
    else:
        damaged += data.draw(st.binary(min_size=1, max_size=20))
    try:
        decode_payload(bytes(damaged), 1, now=NOW)
    except DecodeError as exc:
        assert exc.reason


# -- CayenneLPP, for comparison (docs/wire-format.md) --------------------------------------------------
# Data types and sizes from myDevices' "Cayenne Low Power Payload" (docs.mydevices.com, LoRaWAN):
# each value is channel (1 byte) + type (1 byte) + data. Analog input 2 bytes (0.01 signed: at most
# 327.67), temperature 2 (0.1 degC signed), humidity 1 (0.5 %), barometer 2 (0.1 hPa). Counts and gas
# resistance need the extended "generic sensor" type (4 bytes unsigned integer, ElectricSensor's
# CayenneLPP library); Unix time, 4 bytes, is also an extension: plain LPP carries no time at all.
LPP_DATA = {"temperature": 2, "humidity": 1, "pressure": 2}
LPP_GENERIC = ("pn_gt0_3", "pn_gt0_5", "pn_gt1_0", "pn_gt2_5", "pn_gt5_0", "pn_gt10", "gas_resistance")


def cayenne_bytes(quantities, with_time=False):
    n = 0
    for q in quantities:
        n += 2 + (4 if q in LPP_GENERIC else LPP_DATA.get(q, 2))  # analog input for the rest
    return n + (6 if with_time else 0)


def test_cayenne_lpp_comparison():
    sizes = {}
    for lid, (kit, variant, qs) in sorted(LAYOUTS.items()):
        name = kit + ("/" + variant if variant else "")
        first = len(encode([{"seq": 1, "time": 1795449600, "values": {q: FIELDS[q][2] + 1.5 for q in qs}}], lid)[0])
        sizes[name] = {"lpp": cayenne_bytes(qs), "lpp_with_time": cayenne_bytes(qs, True),
                       "v1_one_reading_uplink": first, "v1_first_reading": first - 4}
    print("CayenneLPP vs payload v1 (bytes):", json.dumps(sizes))
    outdoor = sizes["air-outdoor-v1"]
    assert outdoor["lpp"] == 19  # 4 temperature + 3 humidity + 4 barometer + 2 x 4 analog (PM)
    assert outdoor["v1_first_reading"] == 12 and outdoor["v1_one_reading_uplink"] == 16
    for name, s in sizes.items():
        assert s["v1_one_reading_uplink"] < s["lpp_with_time"], name
