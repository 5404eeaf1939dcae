"""The HTTP API and first page of a running server, through a real HTTP client and a real broker."""
import csv
import io
import json
import time
from datetime import datetime, timezone

import httpx
import paho.mqtt.client as mqtt
import pytest

NOW = int(datetime.now(timezone.utc).timestamp())


def publish(service, topic, payload: bytes):
    """Publish as the topic's device, registered on first use (the broker refuses anonymous clients)."""
    device = topic.split("/")[2]
    passwords = service.__dict__.setdefault("test_passwords", {})
    if device not in passwords:
        passwords[device] = service.registry.register("air-outdoor-v1", device, 44.84, -0.58,
                                                      device_id=device).mqtt_password
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device)
    c.username_pw_set(device, passwords[device])
    c.connect(*service.settings.broker_address)
    c.loop_start()
    try:
        c.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        c.disconnect()
        c.loop_stop()


def uplink(device, seqs, t0=NOW - 3600):
    return json.dumps({
        "version": 1, "device": device, "kit": "air-outdoor-v1", "firmware": "0.1.0",
        "readings": [
            {"seq": s, "time": t0 + 60 * s, "values": {"pm2_5": 5.0 + s, "pm10": 9.5, "humidity": 80.0}}
            for s in seqs
        ],
    }).encode()


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def loaded(service):
    publish(service, "dcz/v1/dev-a/up", uplink("dev-a", range(5)))
    publish(service, "dcz/v1/dev-a/up", uplink("dev-a", range(5)))  # delivered twice
    publish(service, "dcz/v1/dev-b/up", uplink("dev-b", range(2)))
    assert wait_for(lambda: service.ingest.totals["stored"] + service.ingest.totals["duplicates"] >= 12)
    return service


def test_health(service):
    r = httpx.get(service.http_url + "/api/v1/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_devices_lists_id_kit_last_seen(loaded):
    devices = httpx.get(loaded.http_url + "/api/v1/devices").json()
    assert [d["id"] for d in devices] == ["dev-a", "dev-b"]
    a = devices[0]
    assert a["kit"] == "air-outdoor-v1" and a["last_seen"].endswith("Z") and a["readings"] == 5
    assert a["latest"]["pm2_5"]["value"] == 9.0


def test_readings_json_each_reading_once(loaded):
    r = httpx.get(loaded.http_url + "/api/v1/readings", params={"device": "dev-a", "quantity": "pm2_5"})
    assert r.status_code == 200
    rows = r.json()
    assert [row["value"] for row in rows] == [5.0, 6.0, 7.0, 8.0, 9.0]
    assert rows[0]["time"] == datetime.fromtimestamp(NOW - 3600, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_readings_time_window_and_csv(loaded):
    start = datetime.fromtimestamp(NOW - 3600 + 60, timezone.utc).isoformat()
    end = datetime.fromtimestamp(NOW - 3600 + 180, timezone.utc).isoformat()
    r = httpx.get(loaded.http_url + "/api/v1/readings",
                  params={"device": "dev-a", "quantity": "pm2_5", "start": start, "end": end, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [float(row["value"]) for row in rows] == [6.0, 7.0]
    assert set(rows[0]) >= {"time", "value", "device", "quantity"}


def test_several_devices_and_quantities(loaded):
    r = httpx.get(loaded.http_url + "/api/v1/readings",
                  params=[("device", "dev-a,dev-b"), ("quantity", "pm10"), ("quantity", "humidity")])
    rows = r.json()
    assert len(rows) == (5 + 2) * 2
    assert {(row["device"], row["quantity"]) for row in rows} == {
        (d, q) for d in ("dev-a", "dev-b") for q in ("pm10", "humidity")}


@pytest.mark.parametrize("params, message", [
    ({"device": "dev-a", "quantity": "radon"}, "unknown quantity radon"),
    ({"device": "dev-a", "quantity": "pm2_5", "start": "yesterday"}, "not an ISO 8601 time"),
    ({"device": "dev-a", "quantity": "pm2_5", "start": "2026-11-23T10:00:00Z", "end": "2026-11-23T09:00:00Z"},
     "before start"),
])
def test_bad_parameters_get_a_clear_400(service, params, message):
    r = httpx.get(service.http_url + "/api/v1/readings", params=params)
    assert r.status_code == 400 and message in r.json()["detail"]


def test_missing_parameters_are_4xx(service):
    r = httpx.get(service.http_url + "/api/v1/readings", params={"quantity": "pm2_5"})
    assert 400 <= r.status_code < 500


def test_bad_message_is_quarantined_and_changes_nothing(loaded):
    before = httpx.get(loaded.http_url + "/api/v1/devices").json()
    bad = uplink("dev-a", [99]).replace(b'"pm2_5"', b'"radon"')
    publish(loaded, "dcz/v1/dev-a/up", bad)
    publish(loaded, "dcz/v1/dev-c/up", b"\xff not json")
    assert wait_for(lambda: loaded.ingest.totals["quarantined"] >= 2)
    assert httpx.get(loaded.http_url + "/api/v1/devices").json() == before
    reasons = {q["topic"]: (q["reason"], bytes(q["payload"])) for q in loaded.store.quarantined()}
    assert "radon" in reasons["dcz/v1/dev-a/up"][0] and reasons["dcz/v1/dev-a/up"][1] == bad
    assert reasons["dcz/v1/dev-c/up"][1] == b"\xff not json"


def test_status_message_updates_device_state(loaded):
    publish(loaded, "dcz/v1/dev-b/status", b'{"version":1,"device":"dev-b","state":"offline"}')
    assert wait_for(lambda: loaded.ingest.totals["statuses"] >= 1)
    states = {d["id"]: d["state"] for d in httpx.get(loaded.http_url + "/api/v1/devices").json()}
    assert states["dev-b"] == "offline"


def test_first_page_french_and_english(loaded):
    fr = httpx.get(loaded.http_url + "/", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert fr.status_code == 200 and 'lang="fr"' in fr.text and "dev-a" in fr.text and "9,0" in fr.text
    en = httpx.get(loaded.http_url + "/?lang=en")
    assert 'lang="en"' in en.text and "Temperature" not in en.text and "9.0" in en.text
