"""server/datacityzen/ingest/wire_v1.py: what the spec accepts, and one test per rejection rule."""
import json
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datacityzen.ingest.wire_v1 import DecodeError, Reading, decode_status, decode_uplink, parse_topic
from datacityzen.quantities import QUANTITIES, load_quantities

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)
TOPIC = "dcz/v1/dcz-3f2a9c/up"


def uplink(**over):
    doc = {
        "version": 1, "device": "dcz-3f2a9c", "kit": "air-outdoor-v1", "firmware": "0.1.0",
        "readings": [{"seq": 41, "time": 1795449600, "values": {"pm2_5": 12.3, "temperature": 11.52},
                      "flags": {"pm2_5": ["warmup"]}, "errors": [{"sensor": "bme280", "error": "absent"}]}],
    }
    doc.update(over)
    return doc


def reading(**over):
    r = {"seq": 41, "time": 1795449600, "values": {"pm2_5": 12.3}}
    r.update(over)
    return r


def enc(doc):
    return json.dumps(doc).encode()


def test_spec_example_decodes():
    up = decode_uplink(TOPIC, enc(uplink()), now=NOW)
    assert (up.device, up.kit, up.firmware) == ("dcz-3f2a9c", "air-outdoor-v1", "0.1.0")
    assert up.readings == (Reading(
        seq=41, time=datetime(2026, 11, 23, 16, 0, tzinfo=timezone.utc),
        values={"pm2_5": 12.3, "temperature": 11.52}, flags={"pm2_5": ("warmup",)},
        errors=({"sensor": "bme280", "error": "absent"},)),)


def test_unknown_fields_are_ignored_and_optional_fields_default():
    doc = uplink(extra={"x": 1}, readings=[reading(future_field=[1, 2], time=1795449600.25)])
    r = decode_uplink(TOPIC, enc(doc), now=NOW).readings[0]
    assert (r.flags, r.errors, r.time.microsecond) == ({}, (), 250000)


def test_quantities_module_matches_json():
    assert load_quantities() == QUANTITIES
    assert QUANTITIES["pm2_5"]["decimals"] == 1 and QUANTITIES["pressure"]["valid_range"] == (300.0, 1100.0)


def test_parse_topic():
    assert parse_topic("dcz/v1/dcz-3f2a9c/status") == (1, "dcz-3f2a9c", "status")
    for bad in ("other/v1/dcz-3f2a9c/up", "dcz/v1/DCZ/up", "dcz/v1/ab/up", "dcz/v1/dcz-3f2a9c/up/x",
                "dcz/v1/dcz-3f2a9c/telemetry", "dcz/vx/dcz-3f2a9c/up", ""):
        with pytest.raises(DecodeError):
            parse_topic(bad)


REJECTIONS = [
    ("bad JSON", TOPIC, b'{"version": 1,', "not valid JSON"),
    ("not UTF-8", TOPIC, b'{"version": 1, "device": "\xff"}', "not UTF-8"),
    ("not an object", TOPIC, b"[1]", "must be an object"),
    ("version 2", TOPIC, enc(uplink(version=2)), "version 2"),
    ("version as bool", TOPIC, enc(uplink(version=True)), "version True"),
    ("version missing", TOPIC, enc({k: v for k, v in uplink().items() if k != "version"}), "version None"),
    ("v2 topic", "dcz/v2/dcz-3f2a9c/up", enc(uplink()), "v2"),
    ("status topic", "dcz/v1/dcz-3f2a9c/status", enc(uplink()), "expected 'up'"),
    ("foreign topic", "home/kitchen/temp", enc(uplink()), "is not dcz/v"),
    ("device mismatch", "dcz/v1/dcz-000000/up", enc(uplink()), "differs from the topic"),
    ("kit not a string", TOPIC, enc(uplink(kit=3)), "uplink.kit"),
    ("readings missing", TOPIC, enc(uplink(readings=None)), "expected a list"),
    ("no readings", TOPIC, enc(uplink(readings=[])), "0 readings"),
    ("too many readings", TOPIC,
     enc(uplink(readings=[reading(seq=i, values={}) for i in range(101)])), "101 readings"),
    ("oversized", TOPIC, enc(uplink(pad="x" * 16400)), "exceeds the 16384-byte limit"),
    ("unknown quantity", TOPIC, enc(uplink(readings=[reading(values={"co2": 400})])), "unknown quantity id 'co2'"),
    ("unknown quantity in flags", TOPIC, enc(uplink(readings=[reading(flags={"co2": ["warmup"]})])), "'co2'"),
    ("NaN", TOPIC, b'{"version":1,"device":"dcz-3f2a9c","kit":"k","firmware":"f","readings":'
     b'[{"seq":1,"time":1795449600,"values":{"pm10":NaN}}]}', "non-finite"),
    ("Infinity as 1e999", TOPIC, enc(uplink()).replace(b"12.3", b"1e999"), "non-finite"),
    ("null value", TOPIC, enc(uplink(readings=[reading(values={"pm10": None})])), "expected a number"),
    ("bool value", TOPIC, enc(uplink(readings=[reading(values={"pm10": True})])), "expected a number"),
    ("string value", TOPIC, enc(uplink(readings=[reading(values={"pm10": "12"})])), "expected a number"),
    ("bool seq", TOPIC, enc(uplink(readings=[reading(seq=True)])), "seq: expected an integer"),
    ("float seq", TOPIC, enc(uplink(readings=[reading(seq=4.0)])), "seq: expected an integer"),
    ("negative seq", TOPIC, enc(uplink(readings=[reading(seq=-1)])), "out of range"),
    ("seq 2**31", TOPIC, enc(uplink(readings=[reading(seq=2**31)])), "out of range"),
    ("seq not increasing", TOPIC, enc(uplink(readings=[reading(seq=5), reading(seq=5)])), "does not increase"),
    ("time before 2015", TOPIC, enc(uplink(readings=[reading(time=1000)])), "before 2015"),
    ("time in the future", TOPIC, enc(uplink(readings=[reading(time=NOW.timestamp() + 86401)])), "future"),
    ("time as string", TOPIC, enc(uplink(readings=[reading(time="2026-11-23")])), "time: expected a number"),
    ("flags not lists", TOPIC, enc(uplink(readings=[reading(flags={"pm10": "warmup"})])), "list of flag names"),
    ("error not an object", TOPIC, enc(uplink(readings=[reading(errors=["absent"])])), "errors[0]"),
    ("error without sensor", TOPIC, enc(uplink(readings=[reading(errors=[{"error": "absent"}])])), "sensor"),
    ("reading not an object", TOPIC, enc(uplink(readings=[3])), "readings[0]"),
]


@pytest.mark.parametrize("topic,payload,reason", [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS])
def test_rejections(topic, payload, reason):
    with pytest.raises(DecodeError) as e:
        decode_uplink(topic, payload, now=NOW)
    assert reason in str(e.value)
    assert e.value.reason == str(e.value)


def test_a_day_ahead_is_still_accepted():
    decode_uplink(TOPIC, enc(uplink(readings=[reading(time=NOW.timestamp() + 86000)])), now=NOW)


def test_status():
    s = decode_status("dcz/v1/dcz-3f2a9c/status",
                      b'{"version":1,"device":"dcz-3f2a9c","state":"online","uptime_s":3600}')
    assert (s.device, s.state, s.fields) == ("dcz-3f2a9c", "online", {"uptime_s": 3600})
    for payload, reason in ((b'{"version":1,"device":"dcz-3f2a9c","state":"asleep"}', "status.state"),
                            (b'{"version":1,"device":"dcz-000000","state":"online"}', "differs"),
                            (b'{"device":"dcz-3f2a9c","state":"online"}', "version")):
        with pytest.raises(DecodeError, match=reason):
            decode_status("dcz/v1/dcz-3f2a9c/status", payload)


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_decode_error(data):
    with pytest.raises(DecodeError):
        decode_uplink(TOPIC, data, now=NOW)
    with pytest.raises(DecodeError):
        decode_status("dcz/v1/dcz-3f2a9c/status", data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=500)
@given(st.dictionaries(st.sampled_from(["seq", "time", "values", "flags", "errors", "x"]), json_values),
       st.sampled_from(["readings", "device", "version", "kit"]), json_values)
def test_structured_garbage_raises_only_decode_error(r, key, value):
    doc = uplink(readings=[r])
    if key != "readings":
        doc[key] = value
    try:
        decode_uplink(TOPIC, json.dumps(doc).encode(), now=NOW)
    except DecodeError:
        pass


# -- a device clock running ahead: "sent" against the reception time ---------------------------------
@settings(max_examples=200, deadline=None)
@given(ahead=st.integers(-20 * 365 * 86400, 20 * 365 * 86400), age=st.integers(0, 30 * 86400),
       latency=st.floats(0, 5))
def test_a_clock_running_ahead_is_corrected_by_sent_and_flagged(ahead, age, latency):
    """A reading taken `age` s before sending, with a clock `ahead` s off, received `latency` s later."""
    taken = NOW.timestamp() - latency - age
    doc = uplink(sent=int(NOW.timestamp() - latency + ahead),
                 readings=[reading(time=taken + ahead, values={"pm2_5": 12.3, "temperature": 8.0})])
    try:
        up = decode_uplink(TOPIC, enc(doc), now=NOW)
    except DecodeError as exc:  # not corrected (behind, or within the tolerance) and out of bounds
        assert ahead <= 300 + latency + 1
        assert "future" in str(exc) or "before 2015" in str(exc)
        return
    (r,) = up.readings
    if ahead - latency > 300 + 1:  # corrected: the real time to within the latency and a second
        assert abs(r.time.timestamp() - taken) <= latency + 1.5
        assert r.flags == {"pm2_5": ("clock_corrected",), "temperature": ("clock_corrected",)}
    elif ahead - latency <= 300 - 1:  # not corrected: stored as sent, unflagged
        assert r.time.timestamp() == pytest.approx(taken + ahead, abs=1e-3)
        assert r.flags == {}


def test_sent_must_be_a_number():
    with pytest.raises(DecodeError, match="uplink.sent"):
        decode_uplink(TOPIC, enc(uplink(sent="2031-01-01")), now=NOW)
    with pytest.raises(DecodeError, match="uplink.sent"):
        decode_uplink(TOPIC, enc(uplink(sent=1e300)), now=NOW)
