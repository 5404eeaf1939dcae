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


# MQTT passwords of the devices registered here: publish_history logs in as the device, as a kit does
# (the broker refuses anonymous clients and checks the device's own topics).
PASSWORDS: dict[str, str] = {}


def register(service, name="Balcon Chartrons", lat=BORDEAUX[0], lon=BORDEAUX[1], altitude_m=20.0, **extra):
    body = {"kit": "air-outdoor-v1", "name": name, "lat": lat, "lon": lon, "altitude_m": altitude_m, **extra}
    r = httpx.post(service.http_url + "/api/v1/admin/devices", json=body, headers=admin_headers(), timeout=30)
    assert r.status_code == 201, r.text
    out = r.json()
    if "mqtt" in out:
        PASSWORDS[out["id"]] = out["mqtt"]["password"]
    return out


def stored(service, device):
    return service.store._con.cursor().execute(
        "SELECT count(*) FROM raw_readings WHERE device = ?", [device]).fetchone()[0]


def publish_history(service, device, start, end, interval_s=145.0, seed=7, quantities=None, first_seq=0):
    """Publish readings for [start, end) (Unix seconds); returns how many readings were sent."""
    kwargs = {"quantities": quantities} if quantities else {}
    host, port = service.settings.broker_address
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device)
    client.username_pw_set(device, PASSWORDS[device])
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


def page_values(html):
    """{data-q: data-value} of the host page's value cards."""
    import re

    return {q: v for q, v in re.findall(r'data-q="([a-z0-9_]+)"(?: data-scale="[a-z]+")? data-value="([^"]*)"', html)}


def expected_from_api(http_url, device, altitude_m):
    """What the host page must show, recomputed from the public readings API and the derived functions."""
    from datetime import datetime, timedelta

    from datacityzen.derived import air_indices, weather

    now = datetime.utcnow()
    rows = httpx.get(http_url + "/api/v1/readings", timeout=30, params={
        "device": device, "quantity": "temperature,humidity,pressure,pm2_5,pm10",
        "start": (now - timedelta(hours=25)).isoformat() + "Z"}).json()
    by_q = {}
    for r in rows:
        t = datetime.fromisoformat(r["time"].rstrip("Z"))
        by_q.setdefault(r["quantity"], []).append((t, r["value"]))
    latest = {q: max(v)[1] for q, v in by_q.items()}
    t, rh, p = latest["temperature"], latest["humidity"], latest["pressure"]
    p_time = max(by_q["pressure"])[0]
    then = p_time - timedelta(hours=3)

    def near(q):
        cands = [(abs((ts - then).total_seconds()), v) for ts, v in by_q[q] if abs((ts - then).total_seconds()) <= 1200]
        return min(cands)[1] if cands else None

    slp = weather.sea_level_pressure(p, altitude_m, t)
    change = slp - weather.sea_level_pressure(near("pressure"), altitude_m, near("temperature"))
    day = {q: [v for ts, v in by_q[q] if ts >= now - timedelta(hours=24)] for q in ("pm2_5", "pm10")}
    mean = {q: sum(v) / len(v) for q, v in day.items()}
    eu = max(air_indices.eu_index(q, m) for q, m in mean.items())
    return {
        "temperature": t, "humidity": rh, "sea_level_pressure": slp,
        "dew_point": weather.dew_point(t, rh), "heat_index": weather.heat_index(t, rh),
        "humidex": weather.humidex(t, rh), "forecast": weather.zambretti(slp, change)[1],
        "pm2_5": latest["pm2_5"], "pm10": latest["pm10"], "mean24": mean,
        "index_eu": air_indices.EU_LEVELS[eu][0],
        "us_aqi": max(air_indices.us_aqi(q, m) for q, m in mean.items()),
    }
