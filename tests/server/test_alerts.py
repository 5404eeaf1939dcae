"""Alerts delivered for real: e-mail to a local SMTP server (aiosmtpd), webhooks to a local HTTP server."""
import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from brokers import free_port
from datacityzen.alerts import AlertJob, check_target
from datacityzen.ingest.pipeline import Ingestor, Message
from datacityzen.settings import Settings
from datacityzen.store.duckdb_store import DuckDBStore
from datacityzen.store.registry import Registry, RegistryError

NOW = datetime(2026, 11, 23, 12, 0)


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message as MessageHandler

    received = []

    class Keep(MessageHandler):
        def handle_message(self, message):
            received.append(message)

    port = free_port()
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, received
    controller.stop()


@pytest.fixture
def webhook_receiver():
    received = []
    status = {"code": 204}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], json.loads(body)))
            self.send_response(status["code"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received, status
    server.shutdown()
    server.server_close()


@pytest.fixture
def setup(tmp_path):
    store = DuckDBStore(tmp_path)
    registry = Registry.of(store)
    registry.register("air-outdoor-v1", "Balcon", 44.84, -0.58, device_id="dev-al", now=NOW - timedelta(days=2))
    yield store, registry
    store.close()


def ingest(store, seq, t, values, errors=None):
    reading = {"seq": seq, "time": int(t.replace(tzinfo=timezone.utc).timestamp()), "values": values}
    if errors:
        reading["errors"] = errors
    payload = json.dumps({"version": 1, "device": "dev-al", "kit": "air-outdoor-v1", "firmware": "0.1.0",
                          "readings": [reading]}).encode()
    Ingestor(store).handle([Message("dcz/v1/dev-al/up", payload, t.replace(tzinfo=timezone.utc))])


def test_threshold_alert_by_email_fires_once_and_rearms(setup, smtp_server):
    store, registry = setup
    port, received = smtp_server
    settings = Settings(data_dir=".", smtp_host="127.0.0.1", smtp_port=port, smtp_from="alertes@datacityzen.test")
    job = AlertJob(store, registry, settings)
    registry.add_alert("dev-al", "threshold", "email", "hote@example.org", quantity="pm2_5", op="above", threshold=25)
    ingest(store, 1, NOW - timedelta(minutes=5), {"pm2_5": 12.0})
    assert job.run_once(NOW) == 0 and received == []
    ingest(store, 2, NOW + timedelta(minutes=1), {"pm2_5": 31.5})
    assert job.run_once(NOW + timedelta(minutes=2)) == 1
    assert job.run_once(NOW + timedelta(minutes=3)) == 0  # still above: no second message
    (mail,) = received
    assert mail["To"] == "hote@example.org" and mail["From"] == "alertes@datacityzen.test"
    body = mail.get_payload()
    assert "31.5" in body and "31,5" in body and "25" in body  # English and French
    ingest(store, 3, NOW + timedelta(minutes=4), {"pm2_5": 10.0})
    job.run_once(NOW + timedelta(minutes=5))
    assert registry.alerts("dev-al")[0]["state"] == "ok"
    ingest(store, 4, NOW + timedelta(minutes=6), {"pm2_5": 40.0})
    assert job.run_once(NOW + timedelta(minutes=7)) == 1 and len(received) == 2
    events = registry.alert_events("dev-al")
    assert len(events) == 2 and all(e["delivered"] for e in events)


def test_silence_alert_by_webhook(setup, webhook_receiver):
    store, registry = setup
    url, received, _ = webhook_receiver
    settings = Settings(data_dir=".", webhook_allow_private=True)
    job = AlertJob(store, registry, settings)
    registry.add_alert("dev-al", "silence", "webhook", url + "/hook?secret=s3", hours=3)
    ingest(store, 1, NOW, {"temperature": 11.0})
    assert job.run_once(NOW + timedelta(hours=2)) == 0
    assert job.run_once(NOW + timedelta(hours=3, minutes=1)) == 1
    ((path, ctype, body),) = received
    assert path == "/hook?secret=s3" and ctype == "application/json"
    assert body["device"] == "dev-al" and body["kind"] == "silence" and "3 h" in body["message_en"]
    assert "depuis plus de 3 h" in body["message_fr"]


def test_sensor_error_alert_and_a_failed_delivery_is_recorded_without_the_url(setup, webhook_receiver):
    store, registry = setup
    url, received, status = webhook_receiver
    status["code"] = 500
    job = AlertJob(store, registry, Settings(data_dir=".", webhook_allow_private=True))
    registry.add_alert("dev-al", "error", "webhook", url + "/hook?token=private-bits")
    ingest(store, 1, NOW, {"pm2_5": 5.0}, errors=[{"sensor": "bme280", "error": "absent"}])
    assert job.run_once(NOW + timedelta(minutes=1)) == 1
    (event,) = registry.alert_events("dev-al")
    assert not event["delivered"] and event["error"] == "HTTP 500"
    assert "bme280: absent" in event["message_en"]


def test_email_without_smtp_settings_is_recorded_as_not_sent(setup):
    store, registry = setup
    job = AlertJob(store, registry, Settings(data_dir="."))
    registry.add_alert("dev-al", "error", "email", "hote@example.org")
    ingest(store, 1, NOW, {"pm2_5": 5.0}, errors=[{"sensor": "sds011", "error": "timeout"}])
    job.run_once(NOW)
    (event,) = registry.alert_events("dev-al")
    assert not event["delivered"] and "not configured" in event["error"]


def test_webhooks_to_private_addresses_are_refused_unless_allowed():
    strict, lenient = Settings(data_dir="."), Settings(data_dir=".", webhook_allow_private=True)
    for url in ("http://127.0.0.1:8080/x", "http://10.1.2.3/x", "http://[::1]/x", "http://169.254.169.254/x"):
        with pytest.raises(RegistryError):
            check_target("webhook", url, strict)
    check_target("webhook", "http://127.0.0.1:8080/x", lenient)
    for bad in ("ftp://example.org/x", "not a url", "javascript:alert(1)"):
        with pytest.raises(RegistryError):
            check_target("webhook", bad, lenient)
    with pytest.raises(RegistryError):
        check_target("email", "nobody", strict)
