"""The Wi-Fi MQTT link under the real MicroPython: TLS against a real mosquitto TLS listener with a CA
made here, and a downlink config applied and acknowledged through the status."""
import datetime
import json
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from mpy import run_mpy
from test_mqtt_client import DEVICE, Subscriber, publish_retained


def make_pki(folder, host="127.0.0.1"):
    """A CA, a broker certificate for `host` signed by it, and a second CA that signed nothing."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def key():
        return ec.generate_private_key(ec.SECP256R1())

    def ca(cn):
        k = key()
        cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn)).public_key(k.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(k, hashes.SHA256()))
        return k, cert

    ca_key, ca_cert = ca("DataCityZen test CA")
    _, other_cert = ca("Someone else's CA")
    srv_key = key()
    srv_cert = (x509.CertificateBuilder().subject_name(name(host)).issuer_name(ca_cert.subject)
                .public_key(srv_key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
                .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    files = {
        "ca.pem": ca_cert.public_bytes(pem),
        "other-ca.pem": other_cert.public_bytes(pem),
        "server.pem": srv_cert.public_bytes(pem),
        "server.key": srv_key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL,
                                            serialization.NoEncryption()),
    }
    files["bundle.pem"] = files["other-ca.pem"] + files["ca.pem"]  # a CA bundle: ours is the second
    for n, data in files.items():
        (folder / n).write_bytes(data)
        (folder / n).chmod(0o644)
    return {n: folder / n for n in files}


LINK = """
import asyncio, json
from transport.wifi_mqtt import WifiMqttLink, LinkError
cfg = {{"wifi": {{"ssid": "lab", "password": "pw"}},
       "mqtt": {{"host": "127.0.0.1", "port": {port}, "keepalive_s": 30, "tls": {tls}}}}}
async def main():
    try:
        link = WifiMqttLink(cfg, "{device}", "air-outdoor-v1", "0.1.0")
        await link.connect()
        await link.send([{{"seq": 1, "time": 1795449600, "values": {{"pm2_5": 12.34}}}}])
        print("RESULT " + json.dumps({{"ok": True}}))
        await link.close()
    except LinkError as e:
        print("RESULT " + json.dumps({{"ok": False, "error": str(e)}}))
asyncio.run(main())
"""


def run_link(tmp_path, port, tls):
    from fwsim import compiled_dir

    # precompiled, as on the board: compiling mqtt.py from source needs more heap than running it
    proc = run_mpy(LINK.format(port=port, tls=repr(tls), device=DEVICE), cwd=tmp_path, timeout=60,
                   extra_path=(compiled_dir(),))
    (line,) = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    return json.loads(line[7:])


@pytest.fixture
def tls_broker(mosquitto_factory):
    # a folder mosquitto can read once it drops to its own user (pytest's tmp_path is private)
    folder = Path(tempfile.mkdtemp(prefix="dcz-pki-"))
    folder.chmod(0o755)
    try:
        pki = make_pki(folder)
        b = mosquitto_factory([f"cafile {pki['ca.pem']}", f"certfile {pki['server.pem']}",
                               f"keyfile {pki['server.key']}"])
        yield b, pki
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("ca", ["ca.pem", "bundle.pem"])
def test_tls_with_the_right_ca_publishes(tls_broker, tmp_path, ca):
    import queue

    import paho.mqtt.client as paho

    b, pki = tls_broker
    got, subscribed = queue.Queue(), queue.Queue()
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"pytest-tls-{time.monotonic_ns()}")
    c.tls_set(ca_certs=str(pki["ca.pem"]))
    c.on_message = lambda c_, u, m: got.put(m.payload)
    c.on_subscribe = lambda *a: subscribed.put(True)
    c.connect(b.host, b.port)
    c.loop_start()
    try:
        c.subscribe(f"dcz/v1/{DEVICE}/up", qos=1)
        subscribed.get(timeout=5)
        res = run_link(tmp_path, b.port, {"ca": str(pki[ca])})
        assert res == {"ok": True}
        payload = json.loads(got.get(timeout=10))  # it crossed the TLS link intact
        assert payload["readings"] == [{"seq": 1, "time": 1795449600, "values": {"pm2_5": 12.34}}]
    finally:
        c.disconnect()
        c.loop_stop()


def test_tls_certificate_refused_is_a_clear_error(tls_broker, tmp_path):
    b, pki = tls_broker
    res = run_link(tmp_path, b.port, {"ca": str(pki["other-ca.pem"])})
    assert res["ok"] is False
    assert "certificate was refused" in res["error"] and "mqtt.tls.ca" in res["error"], res
    assert str(b.port) in res["error"]


def test_tls_without_a_ca_bundle_says_which_setting(tmp_path):
    res = run_link(tmp_path, 1, {})
    assert res == {"ok": False, "error": "mqtt.tls: no CA bundle (set mqtt.tls.ca to a PEM file on the device)"}


def test_plain_mqtt_to_a_tls_listener_fails_without_hanging(tls_broker, tmp_path):
    b, _ = tls_broker
    t = time.monotonic()
    res = run_link(tmp_path, b.port, None)
    assert res["ok"] is False and "MQTT 127.0.0.1:%d" % b.port in res["error"]
    assert time.monotonic() - t < 30


APP = """
import asyncio, json, sys, config, app
cfg = config.load()
a = app.App(cfg)
async def main():
    await a.link.connect()
    for _ in range(60):
        if a.config_rev == {rev} or a.config_rejected:
            break
        await asyncio.sleep_ms(100)
    await a.link.publish_status(a.status())  # what the status task publishes at once
    print("RESULT " + json.dumps({{"rev": a.config_rev, "rejected": a.config_rejected,
                                  "interval": a.cfg["sampling"]["interval_s"],
                                  "modules_kept": [m for m in ("downlink", "config") if m in sys.modules]}}))
    await a.link.close()
asyncio.run(main())
"""


@pytest.mark.parametrize("downlink,applied", [
    ({"version": 1, "rev": 7, "sampling": {"interval_s": 300}}, True),
    ({"version": 1, "rev": 8, "sampling": {"interval_s": -5}}, False),
])
def test_downlink_config_is_applied_kept_and_acknowledged(broker, tmp_path, downlink, applied):
    from datacityzen.sim.runner import SIM_HW_ALLOWANCE_KB, load_kit, prepare_device
    from fwsim import compiled_dir

    prepare_device(tmp_path, DEVICE, load_kit("air-outdoor-v1"), (broker.host, broker.port), 2, None, seed=3)
    publish_retained(broker, f"dcz/v1/{DEVICE}/config", json.dumps(downlink).encode())
    status = Subscriber(broker, f"dcz/v1/{DEVICE}/status")
    try:
        proc = run_mpy(APP.format(rev=downlink["rev"]), cwd=tmp_path, heapsize=f"{110 + SIM_HW_ALLOWANCE_KB}K",
                       extra_path=(compiled_dir(),))
        (line,) = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
        res = json.loads(line[7:])
        seen = []
        while True:
            try:
                seen.append(json.loads(status.get(timeout=3).payload))
            except Exception:
                break
    finally:
        status.close()
    online = [s for s in seen if s["state"] == "online" and "boot" in s]
    assert online, seen
    # what applies a downlink does not stay in RAM: a retained config comes again at each connect
    assert res.pop("modules_kept") == []
    if applied:
        assert res == {"rev": 7, "rejected": None, "interval": 300}
        assert online[-1]["config_rev"] == 7
        kept = json.loads((tmp_path / "downlink.json").read_text())
        assert kept == {"rev": 7, "sampling": {"interval_s": 300}}  # the next boot starts with it
    else:
        assert res["rev"] is None and res["interval"] == 2
        assert res["rejected"] == {"rev": 8, "error": "sampling.interval_s must be 1..86400"}
        assert online[-1]["config_rejected"] == res["rejected"]
        assert not (tmp_path / "downlink.json").exists()
