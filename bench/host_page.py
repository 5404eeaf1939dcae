"""Host page weight and server render time, against /api/v1/health in the same run.

A server (embedded broker, DuckDB) gets a registered kit with 30 days of readings at the kit's
145-second interval plus a neighbour (so the area median is computed), published over MQTT in the
wire format. Then each page variant is fetched N times over loopback HTTP; the figure is the median
wall time of a full GET, and the ratio against the median GET of /api/v1/health (the floor of any
request here). The last line is one JSON object.

Run: PYTHONPATH=server python bench/host_page.py [--requests 15] [--days 30]
"""
from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt

from datacityzen.service import Service
from datacityzen.settings import Settings
from datacityzen.sim.history import uplinks

TOKEN = "bench-admin-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def publish(service, device, days, seed, quantities):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{device}")
    client.max_inflight_messages_set(100)
    client.connect(*service.settings.broker_address)
    client.loop_start()
    now = time.time()
    sent, infos = 0, []
    for topic, payload in uplinks(device, "air-outdoor-v1", now - days * 86400, now, 145.0, seed=seed,
                                  quantities=quantities):
        infos.append(client.publish(topic, payload, qos=1))
        sent += payload.count(b'"seq"')
    for info in infos:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()
    return sent


def timed_gets(client, url, n):
    times, size = [], 0
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(url)
        times.append(time.perf_counter() - t0)
        assert r.status_code == 200, (url, r.status_code)
        size = len(r.content)
    return statistics.median(times), size


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=15)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="dcz-bench-host-"))
    service = Service(Settings(data_dir=data, http_port=free_port(), mqtt_port=free_port(), admin_token=TOKEN))
    service.start()
    try:
        h = {"Authorization": f"Bearer {TOKEN}"}
        api = service.http_url + "/api/v1/admin/devices"
        kit = httpx.post(api, headers=h, json={"kit": "air-outdoor-v1", "name": "Balcon", "lat": 44.8412,
                                               "lon": -0.5797, "altitude_m": 20}).json()
        near = httpx.post(api, headers=h, json={"kit": "air-outdoor-v1", "name": "Voisin", "lat": 44.85,
                                                "lon": -0.57, "altitude_m": 20}).json()
        q_air = ("pm2_5", "pm10", "temperature", "humidity", "pressure")
        n = publish(service, kit["id"], args.days, 7, q_air + ("noise_laeq",))
        n += publish(service, near["id"], args.days, 9, q_air)
        deadline = time.monotonic() + 120
        while service.ingest.totals["stored"] < n and time.monotonic() < deadline:
            time.sleep(0.1)
        results = {}
        with httpx.Client(timeout=30) as client:
            timed_gets(client, service.http_url + "/api/v1/health", 3)  # warm up
            timed_gets(client, kit["host_url"], 2)
            health, _ = timed_gets(client, service.http_url + "/api/v1/health", args.requests)
            for period in ("24h", "7d", "30d"):
                t, size = timed_gets(client, f"{kit['host_url']}?period={period}&lang=fr", args.requests)
                results[period] = {"median_s": round(t, 4), "bytes": size, "ratio_to_health": round(t / health, 1)}
                print(f"host page {period}: {size / 1024:.1f} KiB, median {t * 1000:.0f} ms "
                      f"({t / health:.0f} x health {health * 1000:.1f} ms)", file=sys.stderr)
        print(json.dumps({"bench": "host_page", "readings_stored": service.ingest.totals["stored"],
                          "days": args.days, "requests": args.requests, "health_median_s": round(health, 5),
                          "pages": results,
                          "max_bytes": max(r["bytes"] for r in results.values()),
                          "max_median_s": max(r["median_s"] for r in results.values())}))
    finally:
        service.stop()
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
