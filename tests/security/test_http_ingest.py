"""`POST /api/v1/ingest/wire` on a real server process (`datacityzen serve`), with a real HTTP client:
a device posts its own wire v1 uplinks with its bearer token and nobody else can; re-posts store
nothing twice; limits answer 413/429; bad bodies are quarantined with the reason and answered 4xx;
hypothesis throws arbitrary and mutated bodies at it and never gets a 5xx.
"""
import json
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))
from harness import ADMIN_TOKEN, ServerProcess  # noqa: E402

PATH = "/api/v1/ingest/wire"
TRIED = {"bodies": 0, "statuses": {}}


def register(url, device):
    r = httpx.post(url + "/api/v1/admin/devices", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30,
                   json={"kit": "air-outdoor-v1", "name": f"HTTP kit {device}", "lat": 44.84, "lon": -0.57,
                         "id": device})
    assert r.status_code in (200, 201), r.text
    return r.json()["http"]["token"]


def uplink(device, seqs, t0=None, **extra):
    t0 = t0 if t0 is not None else int(time.time()) - 600
    doc = {"version": 1, "device": device, "kit": "air-outdoor-v1", "firmware": "0.1.0",
           "readings": [{"seq": s, "time": t0 + 10 * s, "values": {"pm2_5": 4.0 + s, "temperature": 12.5}}
                        for s in seqs]}
    doc.update(extra)
    return json.dumps(doc, separators=(",", ":")).encode()


def bearer(token):
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("http-ingest")
    # generous address limits (one test client posts a lot); the per-device bucket is the one tested
    srv = ServerProcess(data / "data", env={"DCZ_RATE_PER_ADDRESS": "1000", "DCZ_RATE_BURST_PER_ADDRESS": "5000",
                                            "DCZ_RATE_PER_DEVICE": "1000", "DCZ_RATE_BURST_PER_DEVICE": "5000"})
    srv.start()
    srv.tokens = {d: register(srv.url, d) for d in ("http-a", "http-b", "http-fuzz")}
    yield srv
    srv.stop()


def stored(url, device):
    r = httpx.get(url + "/api/v1/readings", params={"device": device, "quantity": "pm2_5,temperature"}, timeout=30)
    r.raise_for_status()
    return r.json()


def test_a_device_posts_its_own_uplink_once_however_often_it_is_posted(server):
    token = server.tokens["http-a"]
    body = uplink("http-a", range(5))
    with httpx.Client(base_url=server.url, timeout=30) as c:
        first = c.post(PATH, content=body, headers=bearer(token))
        assert first.status_code == 200, first.text
        assert first.json() == {"stored": 5, "duplicates": 0}
        again = c.post(PATH, content=body, headers=bearer(token))
        assert again.json() == {"stored": 0, "duplicates": 5}
        overlap = c.post(PATH, content=uplink("http-a", range(3, 8)), headers=bearer(token))
        assert overlap.json() == {"stored": 3, "duplicates": 2}
    rows = stored(server.url, "http-a")
    keys = [(r["seq"], r["quantity"]) for r in rows]
    assert len(keys) == len(set(keys)) == 16  # 8 readings x 2 values, each once
    assert {r["seq"] for r in rows} == set(range(8))


def test_no_token_an_unknown_token_and_another_devices_token_store_nothing(server):
    body = uplink("http-b", [0])
    a_token = server.tokens["http-a"]
    with httpx.Client(base_url=server.url, timeout=30) as c:
        none = c.post(PATH, content=body, headers={"Content-Type": "application/json"})
        assert none.status_code == 401 and none.headers["WWW-Authenticate"].startswith("Bearer")
        basic = c.post(PATH, content=body, headers={"Authorization": "Basic aHR0cC1iOng="})
        assert basic.status_code == 401
        unknown = c.post(PATH, content=body, headers=bearer("not-a-token-" + "x" * 40))
        assert unknown.status_code == 401
        assert "not-a-token" not in unknown.text
        other = c.post(PATH, content=body, headers=bearer(a_token))  # http-a's token, http-b's readings
        assert other.status_code == 403, other.text
        assert "a device posts only its own readings" in other.json()["detail"]["en"]
        assert a_token not in other.text and "http-a" not in other.text  # whose token it is stays unsaid
        huge = c.post(PATH, content=b"x" * 5000, headers=bearer("y" * 4000))  # no echo of a long token
        assert huge.status_code in (400, 401) and "y" * 50 not in huge.text
    assert stored(server.url, "http-b") == []
    assert a_token not in server.log()  # no secret in the server's log


def test_bad_payloads_are_quarantined_with_the_reason_and_answered_4xx(server):
    token = server.tokens["http-b"]
    far = int(time.time()) + 5 * 365 * 86400  # a clock years ahead
    cases = {
        "future": (uplink("http-b", [0], t0=far), "more than a day in the future"),
        "quantity": (uplink("http-b", [1]).replace(b'"pm2_5"', b'"pm3"'), "unknown quantity id 'pm3'"),
        "order": (uplink("http-b", [5, 4]), "does not increase"),
        "version": (uplink("http-b", [2], version=2), "version 2"),
    }
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for name, (body, reason) in cases.items():
            r = c.post(PATH, content=body, headers=bearer(token))
            assert r.status_code == 422, (name, r.text)
            assert reason in r.json()["detail"]["en"] and "quarantaine" in r.json()["detail"]["fr"], (name, r.text)
        not_json = c.post(PATH, content=b"\xff\xfe{", headers=bearer(token))
        assert not_json.status_code == 400 and "wire v1" in not_json.json()["detail"]["en"]
        big = uplink("http-b", [9], firmware="z" * wire_v1_max())
        too_big = c.post(PATH, content=big, headers=bearer(token))
        assert too_big.status_code == 413 and "16384 bytes" in too_big.json()["detail"]["en"]
    assert stored(server.url, "http-b") == []
    server.quarantine_expected = [reason for _, reason in cases.values()]


def wire_v1_max():
    from datacityzen.ingest.wire_v1 import MAX_PAYLOAD

    return MAX_PAYLOAD


def test_the_devices_rate_limit_answers_429_with_retry_after(tmp_path):
    server = ServerProcess(tmp_path / "data", env={"DCZ_RATE_PER_DEVICE": "0.5", "DCZ_RATE_BURST_PER_DEVICE": "20"})
    server.start()
    try:
        token = register(server.url, "http-rate")
        other = register(server.url, "http-other")
        posts_until_429(server, token, other)
    finally:
        server.stop()


def posts_until_429(server, token, other):
    with httpx.Client(base_url=server.url, timeout=30) as c:
        codes = []
        for seq in range(30):  # a burst of 20, then one every 2 s
            r = c.post(PATH, content=uplink("http-rate", [seq]), headers=bearer(token))
            codes.append(r.status_code)
            if r.status_code == 429:
                break
        assert codes[-1] == 429 and set(codes[:-1]) == {200}, codes[-3:]
        assert 1 <= int(r.headers["Retry-After"]) <= 2
        assert "device http-rate" in r.json()["detail"]["en"]
        time.sleep(int(r.headers["Retry-After"]))
        later = c.post(PATH, content=uplink("http-rate", [seq]), headers=bearer(token))
        assert later.status_code == 200 and later.json()["stored"] == 1  # the refused one, sent again
        # the bucket is the device's: another device on the same address is not held back
        assert c.post(PATH, content=uplink("http-other", [0]), headers=bearer(other)).status_code == 200
    assert len({r["seq"] for r in stored(server.url, "http-rate")}) == seq + 1


# -- fuzzing ------------------------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)
MEMBERS = ("version", "device", "kit", "firmware", "readings")
READING_MEMBERS = ("seq", "time", "values", "flags", "errors")


@st.composite
def mutated_uplink(draw):
    doc = json.loads(uplink("http-fuzz", range(draw(st.integers(1, 4))), t0=int(time.time()) - 3600))
    for _ in range(draw(st.integers(1, 3))):
        target = doc if draw(st.booleans()) else draw(st.sampled_from(doc["readings"]) if isinstance(
            doc.get("readings"), list) and doc["readings"] and isinstance(doc["readings"][0], dict) else st.just(doc))
        keys = MEMBERS if target is doc else READING_MEMBERS
        action = draw(st.sampled_from(("replace", "remove", "add")))
        key = draw(st.sampled_from(keys))
        if action == "remove":
            target.pop(key, None)
        elif action == "replace" and key != "device":  # the device stays http-fuzz: past authentication
            target[key] = draw(json_values)
        else:
            target[draw(st.text(max_size=8))] = draw(json_values)
    return json.dumps(doc).encode()


bodies = st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()), mutated_uplink())


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(body=bodies, token_kind=st.sampled_from(("own", "own", "own", "other", "none", "junk")))
def test_fuzzed_bodies_never_get_a_server_error(server, body, token_kind):
    token = {"own": server.tokens["http-fuzz"], "other": server.tokens["http-a"], "none": None,
             "junk": "junk-token"}[token_kind]
    headers = bearer(token) if token else {}
    r = httpx.post(server.url + PATH, content=body, headers=headers, timeout=30)
    TRIED["bodies"] += 1
    TRIED["statuses"][r.status_code] = TRIED["statuses"].get(r.status_code, 0) + 1
    assert r.status_code < 500, (body[:200], r.text[:300])
    assert r.status_code in (200, 400, 401, 403, 413, 422), r.status_code
    if token:
        assert token not in r.text
    if r.status_code == 200:
        assert set(r.json()) == {"stored", "duplicates"}


def test_after_the_fuzz_the_server_is_healthy_and_the_quarantine_holds_reasons(server, capsys):
    assert server.healthy()
    with capsys.disabled():
        print(f"\nhttp ingest fuzz: {TRIED['bodies']} bodies, statuses {dict(sorted(TRIED['statuses'].items()))}")
    assert TRIED["bodies"] >= 300
    server.stop()  # DuckDB allows one process: read the quarantine once the server is gone
    from datacityzen.store.duckdb_store import DuckDBStore

    store = DuckDBStore(server.data_dir)
    try:
        rows = [q for q in store.quarantined(limit=100000) if q["source"] == "http"]
    finally:
        store.close()
    reasons = [q["reason"] for q in rows if q["topic"] == "dcz/v1/http-b/up"]
    for expected in getattr(server, "quarantine_expected", []):
        assert any(expected in r for r in reasons), (expected, reasons)
    assert all(q["reason"] for q in rows)
    assert not any(server.tokens["http-fuzz"].encode() in bytes(q["payload"]) for q in rows)
    server.start()  # the module fixture stops it again
