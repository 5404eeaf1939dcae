"""Size and rate limits (api/limits.py): on a real running server, and the middleware around a small app
that reads request bodies the way the ingest routes do."""
import json
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from datacityzen.api import limits
from datacityzen.ingest import wire_v1
from datacityzen.ingest.pipeline import QUARANTINE_KEEP_BYTES, Ingestor, Message
from datacityzen.store.duckdb_store import DuckDBStore


def test_address_rate_limit_answers_429_with_retry_after_on_the_real_server(monkeypatch, make_service):
    monkeypatch.setenv("DCZ_RATE_PER_ADDRESS", "1")
    monkeypatch.setenv("DCZ_RATE_BURST_PER_ADDRESS", "5")
    service = make_service()
    with httpx.Client(base_url=service.http_url, timeout=10) as client:
        codes = [client.get("/api/v1/health").status_code for _ in range(5)]
        assert codes == [200] * 5
        refused = client.get("/api/v1/health")
        assert refused.status_code == 429
        wait = int(refused.headers["Retry-After"])
        assert 1 <= wait <= 2
        detail = refused.json()["detail"]
        assert "retry in" in detail["en"] and "réessayez" in detail["fr"]
        time.sleep(wait)
        assert client.get("/api/v1/health").status_code == 200  # the client that waits gets through


def small_app(**kw):
    app = FastAPI()
    limits.install(app)
    app.state.limits = limits.Limits(**kw)

    @app.post("/echo")
    async def echo(request: Request):
        return {"bytes": len(await request.body())}

    @app.post("/devices/{device}/up")
    async def up(device: str, request: Request):
        limits.check_device_rate(request, device)
        return {"ok": True}

    @app.get("/q")
    async def q(x: str = ""):
        return {"len": len(x)}

    return app


def client_for(app, address="10.0.0.1"):
    return TestClient(app, client=(address, 40000))


def test_declared_body_over_the_limit_gets_413_before_the_route_runs():
    with client_for(small_app(max_body_bytes=1000)) as c:
        assert c.post("/echo", content=b"x" * 1000).json() == {"bytes": 1000}
        r = c.post("/echo", content=b"x" * 1001)
        assert r.status_code == 413
        assert "1000-byte limit" in r.json()["detail"]["en"] and "octets" in r.json()["detail"]["fr"]


def test_streamed_body_without_length_is_cut_at_the_limit():
    def chunks():
        for _ in range(50):
            yield b"y" * 100  # 5000 bytes, no Content-Length (chunked)

    with client_for(small_app(max_body_bytes=1000)) as c:
        r = c.post("/echo", content=chunks())
        assert r.status_code == 413


def test_long_query_string_gets_414():
    with client_for(small_app(max_query_bytes=100)) as c:
        assert c.get("/q", params={"x": "a" * 90}).status_code == 200
        r = c.get("/q", params={"x": "a" * 200})
        assert r.status_code == 414 and "query string" in r.json()["detail"]["en"]


def test_device_rate_limit_is_per_device_not_per_address():
    app = small_app(device_rate=0.5, device_burst=3, address_burst=1000)
    with client_for(app, "10.0.0.1") as a, client_for(app, "10.0.0.2") as b:
        # device x through two addresses shares one bucket
        codes = [(a if i % 2 else b).post("/devices/x/up").status_code for i in range(4)]
        assert codes == [200, 200, 200, 429]
        r = a.post("/devices/x/up")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) == 2  # 1 token at 0.5/s
        assert "device x" in r.json()["detail"]["en"]
        assert a.post("/devices/y/up").status_code == 200  # another device is not held back


def test_addresses_have_separate_buckets():
    app = small_app(address_rate=0.1, address_burst=2)
    with client_for(app, "10.0.0.1") as a, client_for(app, "10.0.0.2") as b:
        assert [a.get("/q").status_code for _ in range(3)] == [200, 200, 429]
        assert b.get("/q").status_code == 200


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@settings(max_examples=200, deadline=None)
@given(rate=st.floats(0.1, 50), burst=st.integers(1, 50),
       gaps=st.lists(st.floats(0, 3), min_size=1, max_size=200))
def test_token_bucket_never_allows_more_than_burst_plus_refill(rate, burst, gaps):
    clock = FakeClock()
    buckets = limits.TokenBuckets(rate, burst, clock=clock)
    allowed, start = 0, clock.t
    for gap in gaps:
        clock.t += gap
        wait = buckets.take("k")
        if wait == 0:
            allowed += 1
        else:
            assert 0 < wait <= 1 / rate + 1e-9
    assert allowed <= burst + (clock.t - start) * rate + 1e-6


def test_token_bucket_waiting_retry_after_is_enough():
    clock = FakeClock()
    buckets = limits.TokenBuckets(0.3, 1, clock=clock)
    assert buckets.take("k") == 0
    wait = buckets.take("k")
    assert wait > 0
    clock.t += int(limits.retry_after(wait))
    assert buckets.take("k") == 0


# -- the MQTT path: size and time limits in the ingest pipeline --------------------------------------
NOW = datetime.now(timezone.utc)


def uplink(device="dev-a", seq=0, t=None, pad=0):
    return json.dumps({
        "version": 1, "device": device, "kit": "air-outdoor-v1", "firmware": "0.1.0" + " " * pad,
        "readings": [{"seq": seq, "time": (t or NOW - timedelta(minutes=5)).timestamp(),
                      "values": {"pm2_5": 4.5}}],
    }).encode()


def test_oversized_mqtt_payload_is_quarantined_with_its_head_only(tmp_path):
    store = DuckDBStore(tmp_path)
    try:
        huge = uplink(pad=2_000_000)
        result = Ingestor(store).handle([Message("dcz/v1/dev-a/up", huge, NOW)])
        assert (result.stored, result.quarantined) == (0, 1)
        (entry,) = store.quarantined()
        assert f"payload of {len(huge)} bytes exceeds the {wire_v1.MAX_PAYLOAD}-byte limit" in entry["reason"]
        assert len(entry["payload"]) == QUARANTINE_KEEP_BYTES and huge.startswith(bytes(entry["payload"]))
    finally:
        store.close()


@pytest.mark.parametrize("ahead, stored", [(timedelta(hours=23, minutes=59), 1),
                                           (timedelta(days=1, seconds=1), 0),
                                           (timedelta(days=3 * 365), 0)])
def test_readings_more_than_a_day_ahead_are_quarantined_with_the_reason(tmp_path, ahead, stored):
    store = DuckDBStore(tmp_path)
    try:
        result = Ingestor(store).handle([Message("dcz/v1/dev-a/up", uplink(t=NOW + ahead), NOW)])
        assert (result.stored, result.quarantined) == (stored, 1 - stored)
        if not stored:
            (entry,) = store.quarantined()
            assert "more than a day in the future" in entry["reason"]
            assert entry["topic"] == "dcz/v1/dev-a/up"
    finally:
        store.close()
