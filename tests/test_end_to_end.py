"""End to end: the real firmware in MicroPython on simulated hardware -> a real broker -> the server -> API.

What the API returns must be exactly what the devices published: every reading once, values as sent.
"""
import json
import subprocess
import sys
import threading
import time

import httpx
import paho.mqtt.client as mqtt
import pytest

from datacityzen.ingest import wire_v1

DEVICES, COUNT = 2, 4


class Recorder:
    """A plain MQTT subscriber keeping every uplink the devices publish."""

    def __init__(self, host, port, credentials=None):
        self.payloads = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="e2e-recorder")
        if credentials:
            self.client.username_pw_set(*credentials)
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.subscribe("dcz/v1/+/up", qos=1)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg):
        with self._lock:
            self.payloads.append((msg.topic, bytes(msg.payload)))

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()


ADMIN_TOKEN = "e2e-admin-token"


def observer_credentials(service):
    """The embedded broker refuses anonymous clients: observe as the server's own user."""
    if service.broker is None:
        return None
    from datacityzen.broker_plugins import INTERNAL_USER

    return INTERNAL_USER, service.broker.policy.internal_password


def run_sim(broker_url, workdir, devices=DEVICES, count=COUNT, service=None, runtime="micropython", cwd=None):
    """The simulator registers its kits through the server's admin API and logs in with their credentials."""
    auth = ["--admin-token", ADMIN_TOKEN, "--server", service.http_url] if service is not None else []
    return subprocess.run(
        [sys.executable, "-m", "datacityzen.cli", "sim", "--broker", broker_url, "--kit", "air-outdoor-v1",
         "--devices", str(devices), "--count", str(count), "--interval", "1", "--workdir", str(workdir),
         "--runtime", runtime, "--timeout", "120", *auth],
        capture_output=True, text=True, timeout=180, cwd=cwd,
    )


def test_cpython_fallback_with_a_relative_workdir_publishes_every_reading(make_service, tmp_path):
    """Where the MicroPython unix port is missing (not Linux x86_64), the simulator runs the same firmware
    on CPython with shims; a workdir given relative to the current folder works too."""
    service = make_service(admin_token=ADMIN_TOKEN)
    host, port = service.settings.broker_address
    proc = run_sim(f"mqtt://{host}:{port}", "simdir", devices=1, count=3, service=service, runtime="cpython",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "simdir" / "sim-air-outdoor-v1-01" / "device.json").exists()
    wait_stored(service, 3)
    (d,) = httpx.get(service.http_url + "/api/v1/devices").json()
    assert d["readings"] == 3


def published_rows(payloads):
    rows = set()
    for topic, payload in payloads:
        up = wire_v1.decode_uplink(topic, payload)
        for r in up.readings:
            for q, v in r.values.items():
                rows.add((up.device, r.seq, q, v, r.time.strftime("%Y-%m-%dT%H:%M:%S.%f")))
    return rows


def api_rows(service, devices):
    quantities = ["pm2_5", "pm10", "temperature", "humidity", "pressure"]
    r = httpx.get(service.http_url + "/api/v1/readings",
                  params={"device": ",".join(devices), "quantity": ",".join(quantities)}, timeout=30)
    assert r.status_code == 200
    out = set()
    for row in r.json():
        t = row["time"].rstrip("Z")
        t = t if "." in t else t + ".000000"
        out.add((row["device"], row["seq"], row["quantity"], row["value"], t))
    return out


def wait_stored(service, n, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(d["readings"] for d in httpx.get(service.http_url + "/api/v1/devices").json()) >= n:
            return
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("broker_kind", ["embedded", "mosquitto"])
def test_sim_publishes_and_api_returns_exactly_that(broker_kind, make_service, request, tmp_path):
    if broker_kind == "mosquitto":
        broker = request.getfixturevalue("mosquitto_broker")
        service = make_service(broker_url=broker.url, admin_token=ADMIN_TOKEN)
    else:
        service = make_service(admin_token=ADMIN_TOKEN)
    host, port = service.settings.broker_address
    recorder = Recorder(host, port, observer_credentials(service))
    try:
        proc = run_sim(f"mqtt://{host}:{port}", tmp_path / "sim", service=service)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        wait_stored(service, DEVICES * COUNT)
    finally:
        recorder.stop()

    devices = [d["id"] for d in httpx.get(service.http_url + "/api/v1/devices").json()]
    assert devices == [f"sim-air-outdoor-v1-{i:02d}" for i in range(1, DEVICES + 1)]
    for d in httpx.get(service.http_url + "/api/v1/devices").json():
        assert d["readings"] == COUNT, d
        assert d["kit"] == "air-outdoor-v1"
        assert set(d["latest"]) == {"pm2_5", "pm10", "temperature", "humidity", "pressure"}

    sent = published_rows(recorder.payloads)
    stored = api_rows(service, devices)
    # Five values per reading, except where the firmware reported why one is missing: on a loaded
    # machine the simulated SDS011's 1 Hz frames can miss a 1 s window (error "timeout"), which the
    # reading then says. A value missing without a reported error would fail here.
    missing = DEVICES * COUNT * 5 - len(stored)
    errors = {}  # (device, seq) -> sensors that reported an error (a redelivered uplink counts once)
    for _, payload in recorder.payloads:
        doc = json.loads(payload)
        for r in doc["readings"]:
            errors[(doc["device"], r["seq"])] = {e["sensor"] for e in r.get("errors", ())}
    per_sensor = {"sds011": 2, "bme280": 3}  # values each sensor gives in this kit
    reported = sum(per_sensor.get(sensor, 0) for sensors in errors.values() for sensor in sensors)
    assert missing == reported, (missing, reported)
    assert stored == sent


@pytest.mark.slow
def test_sim_resumes_sequence_after_reboot(make_service, tmp_path):
    """A second run of the same devices continues their sequence numbers: nothing is mistaken for a duplicate."""
    service = make_service(admin_token=ADMIN_TOKEN)
    host, port = service.settings.broker_address
    for _ in range(2):
        proc = run_sim(f"mqtt://{host}:{port}", tmp_path / "sim", devices=1, count=3, service=service)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    wait_stored(service, 6)
    (device,) = httpx.get(service.http_url + "/api/v1/devices").json()
    assert device["readings"] == 6


@pytest.mark.slow
def test_faulty_hardware_is_reported_and_the_device_keeps_publishing(make_service, tmp_path):
    """BME280 unplugged and SDS011 frames with bad checksums: PM still arrives, the errors are stored."""
    service = make_service(admin_token=ADMIN_TOKEN)
    host, port = service.settings.broker_address
    device = "sim-air-outdoor-v1-01"
    folder = tmp_path / "sim" / device
    folder.mkdir(parents=True)
    (folder / "sim_hw.json").write_text(json.dumps({
        "seed": 5,
        "uart": {"2": {"chip": "sds011", "faults": {"checksum_error_every": 2}}},
        "i2c": {},
    }))
    proc = run_sim(f"mqtt://{host}:{port}", tmp_path / "sim", devices=1, count=3, service=service)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wait_stored(service, 3)
    (summary,) = httpx.get(service.http_url + "/api/v1/devices").json()
    assert summary["readings"] == 3
    assert set(summary["latest"]) == {"pm2_5", "pm10"}  # no climate values, no placeholders
    errors = [json.loads(e) for (e,) in service.store._con.execute(
        "SELECT errors FROM raw_readings WHERE device = ? ORDER BY seq", [device]).fetchall()]
    assert all({"sensor": "bme280", "error": "absent"} in e for e in errors)
    assert any({"sensor": "sds011", "error": "checksum"} in e for e in errors)
