"""Ingest benchmark: simulated publishers -> a real broker -> the server, against a bare paho subscriber.

For each broker (the embedded amqtt and mosquitto) and each publish rate, two phases with the same load:

  baseline  a bare paho subscriber (QoS 1) on the broker, counting what it receives;
  server    the DataCityZen service (MQTT ingest -> DuckDB -> HTTP API) on the same broker.

Publishers run in a separate process (this script with --publisher): `--devices` devices spread over
4 MQTT clients, QoS 1, one reading of 5 quantities per message, paced at `--rate` messages per second
(0: as fast as they can). A probe device publishes 20 messages a second beside the load; its
publish-to-queryable latency is the time from publish until the reading is returned by
GET /api/v1/readings (polled every 10 ms); the baseline's latency is publish-to-receive.

Figures: readings/s (stored by the server, received by the bare subscriber, from the first publish
to the last reading), latency p50/p99, and the ratios server / baseline.

Usage: PYTHONPATH=server python bench/ingest.py [--brokers embedded,mosquitto] [--rates 1000,0]
       [--messages 10000] [--devices 50]
The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

import paho.mqtt.client as mqtt  # noqa: E402

QUANTITIES = ("pm2_5", "pm10", "temperature", "humidity", "pressure")
PROBE = "probe-00"
PROBE_HZ = 20
CLIENTS = 4


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


# -- publisher process ------------------------------------------------------------------------------
def payload(device: str, seq: int, t: float) -> bytes:
    values = {"pm2_5": 5.0 + seq % 40 / 4, "pm10": 9.5, "temperature": 12.25, "humidity": 81.5, "pressure": 1013.2}
    return json.dumps({"version": 1, "device": device, "kit": "air-outdoor-v1", "firmware": "bench",
                       "readings": [{"seq": seq, "time": round(t, 3), "values": values}]},
                      separators=(",", ":")).encode()


def run_publisher(host: str, port: int, devices: int, messages: int, rate: float) -> None:
    clients = []
    for i in range(CLIENTS + 1):  # the last one carries the probe
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{os.getpid()}-{i}")
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        c.connect(host, port)
        c.loop_start()
        clients.append(c)
    probe_times: dict[int, float] = {}
    stop = threading.Event()

    def probe():
        seq = 0
        while not stop.is_set():
            t = time.time()
            clients[-1].publish(f"dcz/v1/{PROBE}/up", payload(PROBE, seq, t), qos=1)
            probe_times[seq] = t
            seq += 1
            stop.wait(1 / PROBE_HZ)

    infos = []
    start = time.time()
    probe_thread = threading.Thread(target=probe, daemon=True)
    probe_thread.start()
    for i in range(messages):
        if rate > 0:
            ahead = start + i / rate - time.time()
            if ahead > 0:
                time.sleep(ahead)
        device = f"bench-{i % devices:03d}"
        infos.append(clients[i % CLIENTS].publish(f"dcz/v1/{device}/up", payload(device, i // devices, time.time()), qos=1))
    for info in infos:
        info.wait_for_publish(120)
    published = time.time()
    stop.set()
    probe_thread.join()
    time.sleep(0.2)
    for c in clients:
        c.disconnect()
        c.loop_stop()
    print(json.dumps({"start": start, "published": published, "messages": messages,
                      "probe": {str(k): v for k, v in probe_times.items()}}), flush=True)


def start_publisher(host, port, args, rate) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, "--publisher", host, str(port), "--devices", str(args.devices),
         "--messages", str(args.messages), "--rate", str(rate)],
        stdout=subprocess.PIPE, text=True,
    )


# -- brokers ------------------------------------------------------------------------------------------
class Mosquitto:
    def __init__(self):
        exe = "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else shutil.which("mosquitto")
        if not exe:
            raise RuntimeError("mosquitto missing: apt-get install -y mosquitto")
        self.dir = tempfile.mkdtemp(prefix="dcz-bench-mosq-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_inflight_messages 1000\nmax_queued_messages 100000\nlog_dest stderr\nlog_type error\n")
        os.chmod(conf, 0o644)
        self.proc = subprocess.Popen([exe, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("mosquitto did not start")
                time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


class Embedded:
    """The server's own amqtt broker, alone (for the baseline)."""

    def __init__(self):
        from datacityzen.broker import EmbeddedBroker

        self.port = free_port()
        self.broker = EmbeddedBroker("127.0.0.1", self.port)
        self.broker.start()
        # amqtt warns about every late PUBACK when a plain subscriber falls behind: not a figure.
        import logging

        logging.getLogger("amqtt").setLevel(logging.ERROR)

    def stop(self):
        self.broker.stop()


# -- the two phases ----------------------------------------------------------------------------------
def baseline(host, port, args, rate) -> dict:
    expected = args.messages
    received = 0
    last = [0.0]
    probe_seen: dict[int, float] = {}
    done = threading.Event()
    lock = threading.Lock()

    def on_message(client, userdata, msg):
        nonlocal received
        now = time.time()
        if msg.topic == f"dcz/v1/{PROBE}/up":
            probe_seen.setdefault(json.loads(msg.payload)["readings"][0]["seq"], now)
            return
        with lock:
            received += 1
            last[0] = now
            if received >= expected:
                done.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-bare-subscriber")
    sub.on_message = on_message
    sub.max_inflight_messages_set(1000)
    sub.connect(host, port)
    sub.subscribe("dcz/v1/+/up", qos=1)
    sub.loop_start()
    time.sleep(0.3)
    pub = start_publisher(host, port, args, rate)
    out = json.loads(pub.communicate(timeout=600)[0])
    done.wait(120)
    sub.disconnect()
    sub.loop_stop()
    return summarise(out, received, last[0], probe_seen)


def server(broker_url, mqtt_port, args, rate, workdir) -> dict:
    import httpx

    from datacityzen.service import Service
    from datacityzen.settings import Settings

    settings = Settings(data_dir=Path(workdir) / f"data-{time.time_ns()}", http_port=free_port(),
                        mqtt_port=mqtt_port, broker=broker_url, daily_archive=False)
    service = Service(settings)
    service.start()
    host, port = settings.broker_address
    probe_seen: dict[int, float] = {}
    stop = threading.Event()

    def poll():
        client = httpx.Client(base_url=service.http_url, timeout=10)
        start = None
        while not stop.is_set():
            params = {"device": PROBE, "quantity": "pm2_5"}
            if start:
                params["start"] = start
            rows = client.get("/api/v1/readings", params=params).json()
            now = time.time()
            for row in rows:
                probe_seen.setdefault(row["seq"], now)
            if rows:
                start = rows[-1]["time"]
            stop.wait(0.01)
        client.close()

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    pub = start_publisher(host, port, args, rate)
    out = json.loads(pub.communicate(timeout=600)[0])
    expected = args.messages + len(out["probe"])
    deadline = time.monotonic() + 180
    while service.ingest.totals["stored"] < expected and time.monotonic() < deadline:
        time.sleep(0.005)
    last = time.time()
    time.sleep(0.3)
    stop.set()
    poller.join(5)
    load_stored = sum(d["readings"] for d in service.store.devices() if d["id"] != PROBE)
    service.stop()
    return summarise(out, load_stored, last, probe_seen)


def summarise(out, count, last, probe_seen) -> dict:
    latencies = [(probe_seen[int(k)] - t) * 1000 for k, t in out["probe"].items() if int(k) in probe_seen]
    elapsed = last - out["start"]
    return {
        "readings": count,
        "readings_per_s": round(count / elapsed, 1) if elapsed > 0 else None,
        "publish_rate_achieved": round(out["messages"] / (out["published"] - out["start"]), 1),
        "latency_ms_p50": round(percentile(latencies, 50), 1) if latencies else None,
        "latency_ms_p99": round(percentile(latencies, 99), 1) if latencies else None,
        "probes": len(out["probe"]), "probes_seen": len(latencies),
    }


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gb": round(mem_kb / 1024 / 1024, 1),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d")}


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--publisher", nargs=2, metavar=("HOST", "PORT"), help=argparse.SUPPRESS)
    ap.add_argument("--brokers", default="embedded,mosquitto")
    ap.add_argument("--rates", default="1000,0", help="messages per second, comma-separated; 0 = flat out")
    ap.add_argument("--rate", type=float, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--messages", type=int, default=10_000, help="messages (one reading each) per phase")
    ap.add_argument("--devices", type=int, default=50)
    args = ap.parse_args()
    if args.publisher:
        run_publisher(args.publisher[0], int(args.publisher[1]), args.devices, args.messages, args.rate)
        return 0
    import logging

    logging.basicConfig(level=logging.ERROR)
    workdir = tempfile.mkdtemp(prefix="dcz-bench-ingest-")
    runs = []
    try:
        for kind in args.brokers.split(","):
            for rate in (float(r) for r in args.rates.split(",")):
                broker = Mosquitto() if kind == "mosquitto" else Embedded()
                try:
                    base = baseline("127.0.0.1", broker.port, args, rate)
                finally:
                    broker.stop()
                log(f"{kind} rate={rate:g} baseline: {base}")
                if kind == "mosquitto":
                    broker = Mosquitto()
                    try:
                        srv = server(f"mqtt://127.0.0.1:{broker.port}", free_port(), args, rate, workdir)
                    finally:
                        broker.stop()
                else:
                    srv = server(None, free_port(), args, rate, workdir)
                log(f"{kind} rate={rate:g} server: {srv}")
                runs.append({
                    "broker": kind, "rate": rate or "max", "bare_subscriber": base, "server": srv,
                    "ratio_readings_per_s": ratio(srv["readings_per_s"], base["readings_per_s"]),
                    "ratio_latency_p50": ratio(srv["latency_ms_p50"], base["latency_ms_p50"]),
                    "ratio_latency_p99": ratio(srv["latency_ms_p99"], base["latency_ms_p99"]),
                })
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps({"benchmark": "ingest", "messages": args.messages, "devices": args.devices,
                      "readings_per_message": 1, "values_per_reading": len(QUANTITIES), "machine": machine(),
                      "runs": runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
