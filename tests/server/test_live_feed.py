"""The live feed behind /api/v1/live: every new reading once, as the store commits it, whatever path it took."""
import json
import threading
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from datacityzen.exhibition.feed import LiveFeed
from datacityzen.ingest.pipeline import Ingestor, Message
from datacityzen.store.duckdb_store import DuckDBStore


def uplink(device, readings, kit="noise-v1"):
    return json.dumps({"version": 1, "device": device, "kit": kit, "firmware": "0.1.0",
                       "readings": readings}).encode()


def reading(seq, t, **values):
    return {"seq": seq, "time": int(t), "values": values}


@pytest.fixture
def store(tmp_path):
    s = DuckDBStore(tmp_path)
    yield s
    s.close()


def ingest(store, device, readings, received_at=None, kit="noise-v1"):
    msg = Message(f"dcz/v1/{device}/up", uplink(device, readings, kit),
                  received_at or datetime.now(timezone.utc))
    return Ingestor(store, after_insert=lambda batch: None).handle([msg])


def test_each_new_reading_is_sent_once_with_its_values(store):
    now = time.time()
    ingest(store, "kit-a01", [reading(0, now - 10, noise_lamax=50.0)])
    feed = LiveFeed(store)  # no page subscribed, so no polling thread: poll() by hand
    first = feed.poll()
    assert [e["data"]["seq"] for e in first] == [0]
    assert feed.poll() == []  # nothing new: nothing sent again
    ingest(store, "kit-a01", [reading(1, now, noise_lamax=51.5)])
    events = feed.poll()
    assert len(events) == 1
    data = events[0]["data"]
    assert (data["device"], data["seq"], data["values"], data["backlog"]) == ("kit-a01", 1, {"noise_lamax": 51.5}, 0)
    assert data["kit"] == "noise-v1" and data["kit_name"]["fr"].startswith("Bruit")


def test_a_commit_landing_late_in_arrival_order_is_still_sent(store):
    feed = LiveFeed(store)
    now = datetime.now(timezone.utc)
    ingest(store, "kit-b01", [reading(5, now.timestamp(), noise_lamax=50.0)], received_at=now)
    assert len(feed.poll()) == 1
    # another path committed a reading it had received 3 s before the last one the feed saw
    ingest(store, "kit-b02", [reading(9, now.timestamp(), noise_lamax=60.0)], received_at=now - timedelta(seconds=3))
    events = feed.poll()
    assert [(e["data"]["device"], e["data"]["seq"]) for e in events] == [("kit-b02", 9)]


def test_a_flushed_spool_is_summarised_by_its_newest_reading(store):
    feed = LiveFeed(store)
    t0 = time.time() - 600
    backlog = [reading(i, t0 + 5 * i, noise_lamax=50.0 + (i % 2)) for i in range(40)]
    ingest(store, "kit-c01", backlog)
    events = feed.poll()
    assert len(events) == 1
    data = events[0]["data"]
    assert data["seq"] == 39 and data["backlog"] == 39
    assert data["interval_s"] == 5.0  # the rhythm of its readings' times


def test_reactions_travel_with_the_reading(store):
    feed = LiveFeed(store)
    now = time.time()
    for i in range(3):
        ingest(store, "kit-d01", [reading(i, now - 15 + 5 * i, noise_lamax=50.0)])
        assert feed.poll()[0]["data"]["reactions"] == []
    ingest(store, "kit-d01", [reading(3, now, noise_lamax=75.0)])
    (event,) = feed.poll()
    assert event["data"]["reactions"] == [
        {"quantity": "noise_lamax", "kind": "clap", "baseline": 50.0, "value": 75.0, "change": 25.0}]


def test_snapshot_matches_the_devices_api_and_filters(store):
    now = time.time()
    ingest(store, "kit-e01", [reading(0, now, pm2_5=12.3, noise_lamax=48.0)], kit="exhibition-v1")
    ingest(store, "kit-e02", [reading(0, now - 3 * 86400, pm2_5=7.0)], kit="air-outdoor-v1")
    feed = LiveFeed(store)
    snap = feed.snapshot()
    assert [d["id"] for d in snap["devices"]] == ["kit-e01", "kit-e02"]
    e01 = snap["devices"][0]
    assert e01["latest"]["pm2_5"]["value"] == 12.3 and e01["kit_name"]["en"].startswith("Exhibition")
    assert e01["interval_s"] == 5  # no rhythm yet: the kit definition's interval
    assert [d["id"] for d in feed.snapshot(recent=timedelta(hours=24))["devices"]] == ["kit-e01"]
    assert [d["id"] for d in feed.snapshot(devices={"kit-e02"})["devices"]] == ["kit-e02"]


def read_events(url, until, timeout=10.0):
    """Events of the SSE stream at `url` until `until(events)` is true."""
    events = []
    with httpx.stream("GET", url, timeout=timeout) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
                if until(events):
                    return events
    return events


def test_stream_starts_with_a_snapshot_and_ticks(service):
    events = read_events(service.http_url + "/api/v1/live", lambda ev: len(ev) >= 2)
    names = [n for n, _ in events]
    assert set(names) == {"snapshot", "tick"}
    snapshot = dict(events)["snapshot"]
    assert snapshot["devices"] == [] and snapshot["server_time"].endswith("Z")


@pytest.mark.parametrize("query", ["device=Not%20A%20Device", "device=x", "recent_hours=-1", "recent_hours=abc"])
def test_bad_query_gets_a_clear_400_or_422(service, query):
    r = httpx.get(service.http_url + "/api/v1/live?" + query, timeout=5)
    assert r.status_code in (400, 422)
    assert "device" in r.text or "recent_hours" in r.text


def test_stopping_the_server_ends_open_streams_at_once(make_service):
    service = make_service()
    got = []
    t = threading.Thread(target=lambda: got.extend(
        read_events(service.http_url + "/api/v1/live", lambda ev: ev[-1][0] == "end", timeout=20)))
    t.start()
    deadline = time.monotonic() + 10
    while service.app.state.live.subscribers == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    t0 = time.monotonic()
    service.stop()
    stopped_in = time.monotonic() - t0
    t.join(10)
    assert got and got[-1][0] == "end"
    assert stopped_in < 5  # uvicorn waits for open responses: the feed ends them first
