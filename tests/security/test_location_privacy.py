"""No host's exact location in any public output.

A running server with kits registered at exact coordinates (the default 500 m grid, and one host who
chose 100 m) and readings published over MQTT; then every public output is fetched: each GET operation
of the OpenAPI schema that needs no path parameter, the readings and stats in every format, the atlas,
the public pages, the embeds and the daily archive (CSV and Parquet, the Parquet also decoded). Each is
searched for the exact coordinates: full precision, rounded to 6, 5 and 4 decimals, and as the raw
8 bytes of the double (what a binary format would hold). The host's own page (/host/<token>) is not
public and is left out.
"""
import io
import json
import struct
import time
from datetime import datetime, timezone

import httpx
import paho.mqtt.client as mqtt
import pyarrow.parquet as pq

from datacityzen import privacy
from datacityzen.archive import archive_day

ADMIN = "privacy-admin-token"
# Exact sites chosen off their grid cells' centres (checked below), so a leak cannot hide as a snap.
SITES = {"dev-priv-a": (44.8412367, -0.5798743, 500), "dev-priv-b": (44.8567891, -0.5623457, 100)}


def needles(lat, lon):
    out = {}
    for name, value in (("lat", lat), ("lon", lon)):
        out[f"{name} repr"] = repr(value).encode()
        for d in (6, 5, 4):
            out[f"{name} {d} decimals"] = f"{value:.{d}f}".encode()
        out[f"{name} double LE"] = struct.pack("<d", value)
        out[f"{name} double BE"] = struct.pack(">d", value)
    return out


def publish(service, device, password, n=5):
    now = int(datetime.now(timezone.utc).timestamp())
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device)
    c.username_pw_set(device, password)
    c.connect(*service.settings.broker_address)
    c.loop_start()
    doc = {"version": 1, "device": device, "kit": "air-outdoor-v1", "firmware": "0.1.0",
           "readings": [{"seq": i, "time": now - 600 + 60 * i,
                         "values": {"pm2_5": 4.0 + i, "pm10": 9.0, "temperature": 11.5, "humidity": 80.0}}
                        for i in range(n)]}
    c.publish(f"dcz/v1/{device}/up", json.dumps(doc).encode(), qos=1).wait_for_publish(10)
    c.disconnect()
    c.loop_stop()


def test_no_public_output_holds_an_exact_location(make_service, tmp_path):
    service = make_service(admin_token=ADMIN)
    headers = {"Authorization": f"Bearer {ADMIN}"}
    for device, (lat, lon, precision) in SITES.items():
        plat, plon = privacy.snap(lat, lon, precision)
        for d in (4, 5, 6):  # precondition: the public point differs from the exact one at every precision
            assert f"{plat:.{d}f}" != f"{lat:.{d}f}" and f"{plon:.{d}f}" != f"{lon:.{d}f}"
        r = httpx.post(service.http_url + "/api/v1/admin/devices", headers=headers, timeout=30, json={
            "kit": "air-outdoor-v1", "name": f"Balcon {device}", "lat": lat, "lon": lon, "id": device,
            "precision_m": precision})
        assert r.status_code == 201, r.text
        publish(service, device, r.json()["mqtt"]["password"])
    deadline = time.monotonic() + 20
    while service.ingest.totals["stored"] < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.ingest.totals["stored"] == 10

    base = service.http_url
    devices = ",".join(SITES)
    quantities = "pm2_5,pm10,temperature,humidity"
    urls = [f"/api/v1/readings?device={devices}&quantity={quantities}&format={f}" for f in ("json", "csv", "parquet")]
    urls += [f"/api/v1/readings?device={devices}&quantity=pm2_5&layer=calibrated&format=csv",
             "/api/v1/readings?bbox=-1,44,0,45.5&quantity=pm2_5&format=json",
             f"/api/v1/stats?device={devices}&quantity=pm2_5", f"/api/v1/stats?device={devices}&quantity=pm2_5&format=csv",
             "/", "/atlas/", "/requests/", "/api/v1/atlas.geojson"]
    urls += [f"/embed/device/{d}" for d in SITES] + [f"/embed/device/{d}.svg" for d in SITES]
    schema = httpx.get(base + "/openapi.json", timeout=30).json()
    # /api/v1/live is an endless event stream: read its first events separately below.
    urls += [p for p, ops in schema["paths"].items()
             if "get" in ops and "{" not in p and "admin" not in p and p != "/api/v1/live"]

    bodies = {}
    with httpx.Client(base_url=base, timeout=60) as client:
        for url in dict.fromkeys(urls):
            r = client.get(url)
            assert r.status_code < 500, (url, r.status_code)
            bodies[url] = r.content
            if url.endswith("format=parquet") and r.status_code == 200:
                table = pq.read_table(io.BytesIO(r.content))
                bodies[url + " (decoded)"] = str(table.to_pydict()).encode()
        # The live feed (exhibition): its opening snapshot names every device; read a few seconds of it.
        live = b""
        with client.stream("GET", "/api/v1/live", timeout=10) as r:
            assert r.status_code == 200
            deadline = time.monotonic() + 3
            for chunk in r.iter_bytes():
                live += chunk
                if time.monotonic() > deadline or len(live) > 256_000:
                    break
        bodies["/api/v1/live"] = live
    assert any(b"dev-priv-a" in body for body in bodies.values())  # the outputs do hold the devices

    archive = tmp_path / "archive"
    archive_day(service.store, datetime.now(timezone.utc).date(), archive)
    files = [p for p in archive.rglob("*") if p.is_file()]
    assert files, "the archive wrote nothing"
    for path in files:
        bodies[f"archive {path.name}"] = path.read_bytes()
        if path.suffix == ".parquet":
            bodies[f"archive {path.name} (decoded)"] = str(pq.read_table(path).to_pydict()).encode()

    leaks = [(where, name) for where, body in bodies.items()
             for device, (lat, lon, _) in SITES.items()
             for name, needle in needles(lat, lon).items() if needle in body]
    assert not leaks, leaks
    # and the public (snapped) location is there, so the search looked at the right outputs
    plat, _ = privacy.snap(*SITES["dev-priv-a"][:2], 500)
    assert any(f"{plat:.4f}".encode() in body for body in bodies.values())
