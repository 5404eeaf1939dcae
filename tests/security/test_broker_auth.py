"""Nobody publishes as someone else: device credentials and topic rules, enforced by the embedded broker
(amqtt + broker_plugins.DeviceGuard) and by a real mosquitto configured by `broker-config mosquitto`.

Each case goes through a real broker and a real server: right credentials publish and are stored; a wrong
password, an anonymous client or a borrowed client id is refused at CONNECT; a publish on another
device's topic is dropped and stores nothing; a device may subscribe only to its own downlink.
"""
import json
import shutil
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from datacityzen.broker_config import internal_password, write_mosquitto
from datacityzen.broker_plugins import INTERNAL_USER
from datacityzen.store.registry import open_local

NOW = int(datetime.now(timezone.utc).timestamp())


def uplink(device, seq):
    return json.dumps({"version": 1, "device": device, "kit": "air-outdoor-v1", "firmware": "0.1.0",
                       "readings": [{"seq": seq, "time": NOW - 60, "values": {"pm2_5": 7.5}}]}).encode()


class Client:
    """A paho client that reports CONNACK, SUBACK codes and received messages."""

    def __init__(self, address, client_id, username=None, password=None):
        self.connack = None
        self.suback = {}
        self.messages = []
        self._connected = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        if username is not None:
            self.c.username_pw_set(username, password)
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = lambda c, u, mid, codes, p: self.suback.__setitem__(mid, [x.value for x in codes])
        self.c.on_message = lambda c, u, m: self.messages.append((m.topic, bytes(m.payload)))
        self.c.connect(*address)
        self.c.loop_start()
        self._connected.wait(10)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.connack = reason_code
        self._connected.set()

    @property
    def accepted(self):
        return self.connack is not None and not self.connack.is_failure

    def publish(self, topic, payload):
        info = self.c.publish(topic, payload, qos=1)
        info.wait_for_publish(10)
        return info

    def subscribe(self, topic):
        _, mid = self.c.subscribe(topic, qos=1)
        deadline = time.monotonic() + 10
        while mid not in self.suback and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.suback.get(mid)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def stored(service, device):
    return service.store._con.cursor().execute(
        "SELECT count(*) FROM raw_readings WHERE device = ?", [device]).fetchone()[0]


def wait(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def check_rules(service, address, a, b, password_a, password_b, internal, suback_refuses=True):
    """The rules every broker must enforce; `a`, `b` registered devices; `internal` the server's login.

    mosquitto grants a SUBACK for a topic its ACL does not let the client read, then delivers nothing
    on it; the embedded broker refuses the subscription (128). Either way a reads no other downlink."""
    good = Client(address, a, a, password_a)
    assert good.accepted
    good.publish(f"dcz/v1/{a}/up", uplink(a, 1))
    assert wait(lambda: stored(service, a) == 1)

    # publishing as b, from a's session: dropped by the broker, nothing stored for b
    good.publish(f"dcz/v1/{b}/up", uplink(b, 1))
    good.publish(f"dcz/v1/{a}/up", uplink(a, 2))  # a marker after it
    assert wait(lambda: stored(service, a) == 2)
    time.sleep(0.3)
    assert stored(service, b) == 0

    # subscriptions: own downlink only
    assert good.subscribe(f"dcz/v1/{a}/config") == [1]
    others = [good.subscribe(f"dcz/v1/{b}/config")[0], good.subscribe("dcz/v1/+/up")[0]]
    if suback_refuses:
        assert others == [128, 128]
    server = Client(address, "server-downlinks", *internal)
    assert server.accepted
    server.publish(f"dcz/v1/{b}/config", b'{"rev": 1}')
    server.publish(f"dcz/v1/{a}/config", b'{"rev": 2}')
    assert wait(lambda: good.messages)
    time.sleep(0.3)
    assert good.messages == [(f"dcz/v1/{a}/config", b'{"rev": 2}')]  # nothing of b's, nobody's uplinks
    server.close()
    good.close()

    wrong = Client(address, a, a, password_b)
    assert not wrong.accepted
    wrong.close()
    anonymous = Client(address, "someone")
    assert not anonymous.accepted
    anonymous.close()
    unknown = Client(address, "dev-zz9", "dev-zz9", password_a)
    assert not unknown.accepted
    unknown.close()

    b_client = Client(address, b, b, password_b)
    assert b_client.accepted
    b_client.publish(f"dcz/v1/{b}/up", uplink(b, 1))
    assert wait(lambda: stored(service, b) == 1)
    b_client.close()


def register_two(registry):
    a = registry.register("air-outdoor-v1", "A", 44.84, -0.58, device_id="dev-aaa")
    b = registry.register("air-outdoor-v1", "B", 44.85, -0.57, device_id="dev-bbb")
    return a.mqtt_password, b.mqtt_password


def test_embedded_broker_enforces_credentials_and_topics(make_service, caplog):
    service = make_service()
    password_a, password_b = register_two(service.registry)
    with caplog.at_level("DEBUG"):
        check_rules(service, service.settings.broker_address, "dev-aaa", "dev-bbb", password_a, password_b,
                    (INTERNAL_USER, service.broker.policy.internal_password))
    # a borrowed client id (b's session taken over by a) is refused too
    thief = Client(service.settings.broker_address, "dev-bbb", "dev-aaa", password_a)
    assert not thief.accepted
    thief.close()
    assert "refused" in caplog.text
    assert password_a not in caplog.text and password_b not in caplog.text  # no secret in any log line


def test_embedded_broker_allow_anonymous_is_opt_in(make_service):
    service = make_service(allow_anonymous=True)
    c = Client(service.settings.broker_address, "old-kit")
    assert c.accepted
    c.publish("dcz/v1/old-kit/up", uplink("old-kit", 3))
    assert wait(lambda: stored(service, "old-kit") == 1)
    c.close()


def test_the_server_user_reads_everything_and_a_will_on_another_topic_is_refused(make_service):
    service = make_service()
    password_a, _ = register_two(service.registry)
    internal = Client(service.settings.broker_address, "observer", INTERNAL_USER,
                      service.broker.policy.internal_password)
    assert internal.accepted and internal.subscribe("dcz/v1/+/up") == [1]
    device = Client(service.settings.broker_address, "dev-aaa", "dev-aaa", password_a)
    device.publish("dcz/v1/dev-aaa/up", uplink("dev-aaa", 9))
    assert wait(lambda: len(internal.messages) == 1)
    device.close()
    internal.close()

    sneaky = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="dev-aaa")
    sneaky.username_pw_set("dev-aaa", password_a)
    sneaky.will_set("dcz/v1/dev-bbb/status", b'{"version":1,"device":"dev-bbb","state":"offline"}', qos=1)
    codes = []
    sneaky.on_connect = lambda c, u, f, rc, p: codes.append(rc)
    sneaky.connect(*service.settings.broker_address)
    sneaky.loop_start()
    assert wait(lambda: codes, 10) and codes[0].is_failure
    sneaky.loop_stop()


@pytest.fixture
def mosquitto_files():
    # Under /tmp (0755): mosquitto started as root reads its files as user mosquitto.
    out = Path(tempfile.mkdtemp(prefix="dcz-broker-config-"))
    out.chmod(0o755)
    yield out
    shutil.rmtree(out, ignore_errors=True)


def test_mosquitto_with_generated_password_and_acl_files(tmp_path, mosquitto_factory, mosquitto_files, make_service):
    data = tmp_path / "data"
    store, registry = open_local(data)
    try:
        password_a, password_b = register_two(registry)
        registry.register("air-outdoor-v1", "C", 44.86, -0.56, device_id="dev-ccc")
        result = write_mosquitto(registry, data, mosquitto_files)
    finally:
        store.close()
    assert result["devices"] == 3 and result["skipped"] == []
    passwd = (mosquitto_files / "passwd").read_text()
    assert passwd.count("$7$") == 4 and password_a not in passwd  # hashes only
    assert "DCZ_BROKER_PASSWORD=" in (mosquitto_files / "server.env").read_text()
    assert oct((mosquitto_files / "server.env").stat().st_mode & 0o777) == "0o600"

    broker = mosquitto_factory(anonymous=False, extra_lines=[
        f"password_file {mosquitto_files / 'passwd'}", f"acl_file {mosquitto_files / 'acl'}"])
    # the server finds its broker user in the data directory (written by broker-config)
    service = make_service(broker_url=broker.url, data_dir=data)
    assert service.ingest.connected.wait(10), "the server's ingest could not log in to mosquitto"
    check_rules(service, (broker.host, broker.port), "dev-aaa", "dev-bbb", password_a, password_b,
                (INTERNAL_USER, internal_password(data)), suback_refuses=False)
