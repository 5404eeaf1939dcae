"""Forwarding to Sensor.Community and openSenseMap, against local receivers that check the peers'
documented formats (tests/peers.py), on a real DuckDB store with readings ingested in the wire format."""
import json
from datetime import datetime, timedelta, timezone

import pytest

from datacityzen.forward import formats
from datacityzen.forward.runner import Forwarder, backoff
from datacityzen.ingest.pipeline import Ingestor, Message
from datacityzen.store.duckdb_store import DuckDBStore
from datacityzen.store.forward_outbox import ForwardOutbox
from peers import Peer, check_sensor_community, osem_checker

BOX = "5a1b2c3d4e5f60718293a4b5"
TOKEN = "f" * 64
SENSORS = {"pm2_5": "5a1b2c3d4e5f60718293a4c1", "pm10": "5a1b2c3d4e5f60718293a4c2",
           "temperature": "5a1b2c3d4e5f60718293a4c3"}


class Clock:
    def __init__(self):
        self.now = datetime.now(timezone.utc).replace(tzinfo=None)

    def __call__(self):
        return self.now


@pytest.fixture
def store(tmp_path):
    s = DuckDBStore(tmp_path)
    yield s
    s.close()


def ingest(store, device, seqs, t0=None, values=None):
    t0 = t0 or datetime.now(timezone.utc).timestamp() - 60
    payload = json.dumps({"version": 1, "device": device, "kit": "air-outdoor-v1", "firmware": "0.1", "readings": [
        {"seq": s, "time": t0 + s, "values": values or {"pm2_5": 5.0 + s, "pm10": 9.0, "temperature": 21.5,
                                                         "humidity": 60.0, "pressure": 1013.2}} for s in seqs]})
    Ingestor(store, after_insert=lambda b: None).handle(
        [Message(f"dcz/v1/{device}/up", payload.encode(), datetime.now(timezone.utc))])


@pytest.fixture
def sc_peer():
    p = Peer(check_sensor_community)
    yield p
    p.close()


@pytest.fixture
def osem_peer():
    p = Peer(osem_checker(BOX, TOKEN, set(SENSORS.values())))
    yield p
    p.close()


def test_sensor_community_bodies_split_by_pin_with_pa_and_two_decimals():
    parts = dict(formats.sensor_community_bodies({"pm2_5": 4.56, "pm10": 9.0, "temperature": 21.456,
                                                  "humidity": 60.0, "pressure": 1013.25, "noise_laeq": 55.0}))
    assert parts[1]["sensordatavalues"] == [{"value_type": "P1", "value": "9.00"}, {"value_type": "P2", "value": "4.56"}]
    assert {"value_type": "pressure", "value": "101325.00"} in parts[11]["sensordatavalues"]
    assert parts[15]["sensordatavalues"][0] == {"value_type": "noise_LAeq", "value": "55.00"}
    assert 7 in dict(formats.sensor_community_bodies({"temperature": 1.0, "humidity": 2.0}))
    assert 3 in dict(formats.sensor_community_bodies({"temperature": 1.0, "pressure": 990.0}))


def test_sensor_community_receives_each_reading_per_pin(store, sc_peer):
    clock = Clock()
    ForwardOutbox.of(store).set_target("dev-a", "sensor-community", sc_peer.url, {"sensor_id": "esp32-424242"}, None,
                                       now=clock.now - timedelta(minutes=5))
    ingest(store, "dev-a", [1, 2])
    stats = Forwarder(store, clock=clock).run_once()
    assert stats["sent"] == 4 and not sc_peer.rejected  # 2 readings x (PM pin 1 + BME280 pin 11)
    pins = sorted(h["x-pin"] for _, h, _ in sc_peer.accepted)
    assert pins == ["1", "1", "11", "11"] and {h["x-sensor"] for _, h, _ in sc_peer.accepted} == {"esp32-424242"}
    p2 = [b["sensordatavalues"] for _, h, b in sc_peer.accepted if h["x-pin"] == "1"]
    assert {"value_type": "P2", "value": "6.00"} in p2[0] + p2[1]
    assert Forwarder(store, clock=clock).run_once()["sent"] == 0  # nothing twice


def test_peer_down_then_up_retries_with_backoff_and_loses_nothing(store, sc_peer):
    clock = Clock()
    outbox = ForwardOutbox.of(store)
    outbox.set_target("dev-a", "sensor-community", sc_peer.url, {"sensor_id": "esp8266-77"}, None,
                      now=clock.now - timedelta(minutes=5))
    ingest(store, "dev-a", [1])
    sc_peer.fail_next = 1
    stats = Forwarder(store, clock=clock).run_once()
    assert stats["retry"] == 1 and stats["sent"] == 0
    # the pass stopped at the first failure; the untried pin goes next, the failed one waits its back-off
    assert Forwarder(store, clock=clock).run_once()["sent"] == 1
    assert Forwarder(store, clock=clock).run_once()["sent"] == 0
    clock.now += backoff(0)
    assert Forwarder(store, clock=clock).run_once()["sent"] == 1
    states = {r["part"]: (r["state"], r["attempts"]) for r in outbox.rows("dev-a", "sensor-community")}
    assert states == {"1": ("sent", 2), "11": ("sent", 1)}


def test_outbox_survives_a_restart_while_the_peer_is_unreachable(tmp_path, osem_peer):
    store = DuckDBStore(tmp_path)
    clock = Clock()
    ForwardOutbox.of(store).set_target("dev-b", "opensensemap", "http://127.0.0.1:9", {"box_id": BOX, "sensors": SENSORS},
                                       TOKEN, now=clock.now - timedelta(minutes=5))
    ingest(store, "dev-b", [1, 2, 3])
    assert Forwarder(store, clock=clock).run_once()["retry"] == 3  # nothing listens on port 9
    store.close()
    store = DuckDBStore(tmp_path)  # restart: the outbox is in the database
    ForwardOutbox.of(store).set_target("dev-b", "opensensemap", osem_peer.url, {"box_id": BOX, "sensors": SENSORS}, TOKEN)
    clock.now += timedelta(hours=2)
    stats = Forwarder(store, clock=clock).run_once()
    store.close()
    assert stats["sent"] == 3 and not osem_peer.rejected
    (path, headers, measurements), = osem_peer.accepted  # one request for the backlog
    assert headers["authorization"] == TOKEN and len(measurements) == 9
    assert {m["sensor"] for m in measurements} == set(SENSORS.values())


def test_opensensemap_splits_backlogs_at_2500_values(store, osem_peer):
    clock = Clock()
    ForwardOutbox.of(store).set_target("dev-c", "opensensemap", osem_peer.url, {"box_id": BOX, "sensors": SENSORS},
                                       TOKEN, now=clock.now - timedelta(minutes=5))
    ingest(store, "dev-c", range(1, 91), values={"pm2_5": 1.0, "pm10": 2.0, "temperature": 3.0})  # 270 values
    t0 = datetime.now(timezone.utc).timestamp() - 3000
    for start in range(91, 1000, 90):
        ingest(store, "dev-c", range(start, start + 90), t0=t0, values={"pm2_5": 1.0, "pm10": 2.0, "temperature": 3.0})
    f = Forwarder(store, clock=clock)
    f.enqueue()
    sent = sum(f.drain()["sent"] for _ in range(3))
    sizes = [len(m) for _, _, m in osem_peer.accepted]
    assert sent == 1080 and len(sizes) == 2 and max(sizes) <= 2500 and sum(sizes) == 3240 and not osem_peer.rejected


def test_refused_identity_is_marked_failed_not_retried(store):
    peer = Peer(osem_checker(BOX, "another token", set(SENSORS.values())))
    try:
        clock = Clock()
        ForwardOutbox.of(store).set_target("dev-d", "opensensemap", peer.url, {"box_id": BOX, "sensors": SENSORS},
                                           TOKEN, now=clock.now - timedelta(minutes=5))
        ingest(store, "dev-d", [1])
        assert Forwarder(store, clock=clock).run_once()["failed"] == 1
        (row,) = ForwardOutbox.of(store).rows("dev-d", "opensensemap")
        assert row["state"] == "failed" and "Box access token not valid" in row["last_error"]
        assert TOKEN not in row["last_error"]
    finally:
        peer.close()


def test_sensor_community_backlog_older_than_half_an_hour_expires(store, sc_peer):
    clock = Clock()
    ForwardOutbox.of(store).set_target("dev-e", "sensor-community", sc_peer.url, {"sensor_id": "esp8266-1"}, None,
                                       now=clock.now - timedelta(hours=3))
    ingest(store, "dev-e", [1], t0=datetime.now(timezone.utc).timestamp() - 7200)
    stats = Forwarder(store, clock=clock).run_once()
    assert stats["expired"] == 2 and stats["sent"] == 0 and not sc_peer.accepted


def test_targets_listing_never_shows_the_token(store):
    ForwardOutbox.of(store).set_target("dev-f", "opensensemap", "https://api.opensensemap.org",
                                       {"box_id": BOX, "sensors": SENSORS}, TOKEN)
    assert TOKEN not in json.dumps(ForwardOutbox.of(store).targets(), default=str)
