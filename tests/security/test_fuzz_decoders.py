"""Property-based fuzzing of the wire-v1 decoder and of the ingest pipeline on a real DuckDB store.

Whatever arrives, the decoder either returns a valid uplink or raises DecodeError with a reason; the
pipeline stores or quarantines every message (with a non-empty reason) and never raises.
The example counts below are what CI tries on each run (docs/reliability.md quotes them).
"""
import json
import math
import tempfile
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datacityzen.ingest import wire_v1
from datacityzen.ingest.pipeline import Ingestor, Message
from datacityzen.quantities import QUANTITIES
from datacityzen.store.duckdb_store import DuckDBStore

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
DECODER_EXAMPLES = 400
PIPELINE_EXAMPLES = 120

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12,
)
device_ids = st.from_regex(r"[a-z0-9-]{3,12}", fullmatch=True)
quantities = st.sampled_from(sorted(QUANTITIES))


@st.composite
def valid_uplinks(draw):
    device = draw(device_ids)
    n = draw(st.integers(1, 5))
    first = draw(st.integers(0, 2**31 - 10))
    readings = []
    for i in range(n):
        t = NOW - timedelta(seconds=draw(st.integers(-86000, 86400 * 365 * 5)))
        values = draw(st.dictionaries(quantities, st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=4))
        readings.append({"seq": first + i, "time": t.timestamp(), "values": values})
    return device, {"version": 1, "device": device, "kit": "air-outdoor-v1", "firmware": "0.1.0",
                    "readings": readings}


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated_uplinks(draw):
    """A valid uplink with one member replaced, removed or added somewhere in the tree."""
    device, doc = draw(valid_uplinks())
    paths = [p for p in _paths(doc) if p]
    path = draw(st.sampled_from(paths))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    action = draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "replace":
        parent[path[-1]] = draw(json_values)
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.text(max_size=8))] = draw(json_values)
    else:
        parent.append(draw(json_values))
    return device, doc


def check_uplink(up: wire_v1.Uplink, topic_device: str):
    assert up.device == topic_device
    assert 1 <= len(up.readings) <= wire_v1.MAX_READINGS
    for a, b in zip(up.readings, up.readings[1:]):
        assert a.seq < b.seq
    for r in up.readings:
        assert 0 <= r.seq < wire_v1.SEQ_LIMIT
        assert wire_v1.EARLIEST <= r.time <= NOW + wire_v1.MAX_FUTURE
        assert all(q in QUANTITIES and math.isfinite(v) for q, v in r.values.items())


def decode(topic, payload):
    try:
        return wire_v1.decode_uplink(topic, payload, now=NOW)
    except wire_v1.DecodeError as e:
        assert e.reason and str(e) == e.reason
        return None


@settings(max_examples=DECODER_EXAMPLES, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_decode_or_raise_decode_error(payload):
    assert decode("dcz/v1/dev-a/up", payload) is None or payload.lstrip().startswith(b"{")


@settings(max_examples=DECODER_EXAMPLES, deadline=None)
@given(json_values)
def test_arbitrary_json_is_rejected_cleanly(doc):
    assert decode("dcz/v1/dev-a/up", json.dumps(doc).encode()) is None  # never a valid uplink by chance


@settings(max_examples=DECODER_EXAMPLES, deadline=None)
@given(mutated_uplinks())
def test_mutated_uplinks_decode_to_valid_readings_or_a_reason(case):
    device, doc = case
    up = decode(f"dcz/v1/{device}/up", json.dumps(doc).encode())
    if up is not None:
        check_uplink(up, device)


@settings(max_examples=DECODER_EXAMPLES, deadline=None)
@given(valid_uplinks())
def test_valid_uplinks_round_trip(case):
    device, doc = case
    up = decode(f"dcz/v1/{device}/up", json.dumps(doc).encode())
    assert up is not None
    check_uplink(up, device)
    assert [r.values for r in up.readings] == [r["values"] for r in doc["readings"]]


@settings(max_examples=DECODER_EXAMPLES, deadline=None)
@given(st.text(max_size=60), st.binary(max_size=200))
def test_arbitrary_topics_and_statuses(topic, payload):
    for fn in (wire_v1.parse_topic,):
        try:
            fn(topic)
        except wire_v1.DecodeError as e:
            assert e.reason
    try:
        wire_v1.decode_status(topic, payload)
    except wire_v1.DecodeError as e:
        assert e.reason


@settings(max_examples=DECODER_EXAMPLES, deadline=None)
@given(device_ids, json_values)
def test_status_members_fuzzed(device, extra):
    doc = {"version": 1, "device": device, "state": "online", "x": extra}
    status = wire_v1.decode_status(f"dcz/v1/{device}/status", json.dumps(doc).encode())
    assert status.state == "online" and status.fields["x"] == extra


# -- the pipeline on a real store ------------------------------------------------------------------
topics = st.one_of(
    device_ids.map(lambda d: f"dcz/v1/{d}/up"),
    device_ids.map(lambda d: f"dcz/v1/{d}/status"),
    st.text(max_size=30),
)


@st.composite
def messages(draw):
    kind = draw(st.sampled_from(["valid", "mutated", "bytes", "json", "status"]))
    if kind in ("valid", "mutated"):
        device, doc = draw(valid_uplinks() if kind == "valid" else mutated_uplinks())
        return Message(f"dcz/v1/{device}/up", json.dumps(doc).encode(), NOW)
    if kind == "status":
        device = draw(device_ids)
        doc = {"version": 1, "device": device, "state": draw(st.sampled_from(["online", "offline", "bad"]))}
        return Message(f"dcz/v1/{device}/status", json.dumps(doc).encode(), NOW)
    payload = draw(st.binary(max_size=200)) if kind == "bytes" else json.dumps(draw(json_values)).encode()
    return Message(draw(topics), payload, NOW, transport=draw(st.sampled_from(["mqtt", "http"])))


def test_pipeline_stores_or_quarantines_every_message():
    with tempfile.TemporaryDirectory(prefix="dcz-fuzz-") as d:
        store = DuckDBStore(d)
        ingestor = Ingestor(store)
        tried = {"messages": 0, "stored": 0, "quarantined": 0}

        def count(sql):
            return store._con.cursor().execute(sql).fetchone()[0]

        @settings(max_examples=PIPELINE_EXAMPLES, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(st.lists(messages(), min_size=1, max_size=8))
        def run(batch):
            q0 = count("SELECT count(*) FROM quarantine")
            expected_ok, expected_reasons = [], []
            for m in batch:
                try:
                    _, _, kind = wire_v1.parse_topic(m.topic)
                    if kind == "up":
                        expected_ok.append(wire_v1.decode_uplink(m.topic, m.payload, now=m.received_at))
                    elif kind == "status":
                        wire_v1.decode_status(m.topic, m.payload)
                        expected_ok.append(None)
                except wire_v1.DecodeError as exc:
                    expected_reasons.append(exc.reason)
            result = ingestor.handle(batch)  # must not raise
            accepted = len(expected_ok)
            assert result.quarantined == len(batch) - accepted
            # what the HTTP routes answer with: each refused message's reason, in order
            assert result.reasons == expected_reasons
            assert count("SELECT count(*) FROM quarantine") - q0 == result.quarantined
            assert count("SELECT count(*) FROM quarantine WHERE reason = '' OR reason IS NULL") == 0
            readings = sum(len(u.readings) for u in expected_ok if u is not None)
            assert result.stored + result.duplicates == readings
            tried["messages"] += len(batch)
            tried["stored"] += result.stored
            tried["quarantined"] += result.quarantined

        run()
        # every row once: the store never holds a (device, seq) twice
        assert count("SELECT count(*) FROM raw_readings") == count(
            "SELECT count(*) FROM (SELECT DISTINCT device, seq FROM raw_readings)")
        assert count("SELECT count(*) FROM raw_readings") == tried["stored"]
        assert tried["stored"] > 0 and tried["quarantined"] > 0
        print(f"\npipeline fuzz: {tried}")
        store.close()
