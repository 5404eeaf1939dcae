"""Helpers for the host-view tests: register a kit through the admin API, publish its history over
MQTT in the wire format (through the server's real broker and ingest), wait until it is stored."""
import time

import httpx
import paho.mqtt.client as mqtt

from datacityzen.sim.history import uplinks

ADMIN_TOKEN = "test-admin-token-5c1f"
BORDEAUX = (44.8412, -0.5797)


def admin_headers(token=ADMIN_TOKEN):
    return {"Authorization": f"Bearer {token}"}


def register(service, name="Balcon Chartrons", lat=BORDEAUX[0], lon=BORDEAUX[1], altitude_m=20.0, **extra):
    body = {"kit": "air-outdoor-v1", "name": name, "lat": lat, "lon": lon, "altitude_m": altitude_m, **extra}
    r = httpx.post(service.http_url + "/api/v1/admin/devices", json=body, headers=admin_headers(), timeout=30)
    assert r.status_code == 201, r.text
    return r.json()


def stored(service, device):
    return service.store._con.cursor().execute(
        "SELECT count(*) FROM raw_readings WHERE device = ?", [device]).fetchone()[0]


def publish_history(service, device, start, end, interval_s=145.0, seed=7, quantities=None, first_seq=0):
    """Publish readings for [start, end) (Unix seconds); returns how many readings were sent."""
    kwargs = {"quantities": quantities} if quantities else {}
    host, port = service.settings.broker_address
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"history-{device}")
    client.max_inflight_messages_set(100)
    client.connect(host, port)
    client.loop_start()
    before = stored(service, device)
    sent = 0
    try:
        infos = []
        for topic, payload in uplinks(device, "air-outdoor-v1", start, end, interval_s, seed=seed,
                                      first_seq=first_seq, **kwargs):
            infos.append(client.publish(topic, payload, qos=1))
            sent += payload.count(b'"seq"')
        for info in infos:
            info.wait_for_publish(30)
    finally:
        client.disconnect()
        client.loop_stop()
    deadline = time.monotonic() + 60
    while stored(service, device) < before + sent and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stored(service, device) >= before + sent, "published readings were not all stored"
    return sent


def token_of(host_url):
    return host_url.rsplit("/", 1)[1]
