"""firmware/transport/mqtt.py and wifi_mqtt.py under the real MicroPython, against real brokers."""
import os
import queue
import subprocess
import sys
import time

import paho.mqtt.client as paho
import pytest

from datacityzen.ingest import wire_v1
from fwsim import compiled_dir
from mpy import FIRMWARE, run_mpy

DEVICE = "dcz-test01"


class Subscriber:
    """A paho client in pytest that records every message on `topic` (QoS 1)."""

    def __init__(self, b, topic):
        self.messages = queue.Queue()
        self.c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"pytest-{time.monotonic_ns()}")
        subscribed = queue.Queue()
        self.c.on_message = lambda c, u, m: self.messages.put(m)
        self.c.on_subscribe = lambda *a: subscribed.put(True)
        self.c.connect(b.host, b.port)
        self.c.loop_start()
        self.c.subscribe(topic, qos=1)
        subscribed.get(timeout=5)

    def get(self, timeout=10):
        return self.messages.get(timeout=timeout)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def publish_retained(b, topic, payload):
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"pytest-pub-{time.monotonic_ns()}")
    c.connect(b.host, b.port)
    c.loop_start()
    c.publish(topic, payload, qos=1, retain=True).wait_for_publish(timeout=5)
    c.disconnect()
    c.loop_stop()


def script(b, body):
    return f"""
import asyncio
from transport.mqtt import MQTTClient, MQTTConnectError, MQTTConnectionLost
HOST = {b.host!r}
PORT = {b.port}
async def main():
{body}
asyncio.run(main())
"""


def run_cpython(code):
    """The same firmware code under CPython (the simulator's fallback)."""
    env = dict(os.environ, PYTHONPATH=str(FIRMWARE))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_the_session_code_is_loaded_for_a_connect_only(broker):
    """connect()'s code (transport/mqtt_session.py) is not in the heap while connected, nor before:
    the client loads it to build its CONNECT packet and for each connect, then forgets it."""
    code = script(broker, f"""
    import sys
    c = MQTTClient({DEVICE!r}, HOST, PORT, keepalive=30)
    built = "transport.mqtt_session" in sys.modules
    await c.connect()
    print(built, "transport.mqtt_session" in sys.modules, c.connected)
    await c.disconnect()
    await c.connect()
    print("transport.mqtt_session" in sys.modules, c.connected)
    await c.disconnect()
""")
    assert run_mpy(code).stdout.split() == ["False", "False", "True", "False", "True"]


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_publish_qos1_returns_after_puback_and_bytes_arrive_exactly(broker, runtime):
    payload = bytes(range(256)) * 20  # 5120 bytes: two-byte remaining length, every byte value
    sub = Subscriber(broker, f"dcz/v1/{DEVICE}/up")
    try:
        code = script(broker, f"""
    c = MQTTClient({DEVICE!r}, HOST, PORT, keepalive=30)
    await c.connect()
    await c.publish("dcz/v1/{DEVICE}/up", bytes(range(256)) * 20, qos=1)
    print("puback")
    await c.publish("dcz/v1/{DEVICE}/up", b"qos0", qos=0)
    await c.disconnect()
    print("connected", c.connected)
""")
        out = (run_mpy(code) if runtime == "micropython" else run_cpython(code)).stdout
        assert out.split() == ["puback", "connected", "False"]
        assert sub.get().payload == payload
        assert sub.get().payload == b"qos0"
    finally:
        sub.close()


def test_will_is_delivered_on_abrupt_disconnect(broker):
    sub = Subscriber(broker, f"dcz/v1/{DEVICE}/status")
    try:
        run_mpy(script(broker, f"""
    from transport import wire
    c = MQTTClient({DEVICE!r}, HOST, PORT, keepalive=30,
                   will=(wire.topic_status({DEVICE!r}), wire.offline_will({DEVICE!r}), 1, True))
    await c.connect()
    print("connected; exiting without DISCONNECT")
"""))
        msg = sub.get()
        assert msg.payload == b'{"version":1,"device":"dcz-test01","state":"offline"}'
        assert wire_v1.decode_status(msg.topic, msg.payload).state == "offline"
    finally:
        sub.close()


def test_subscription_receives_retained_config(broker):
    publish_retained(broker, f"dcz/v1/{DEVICE}/config", b'{"version":1,"sampling":{"interval_s":60}}')
    out = run_mpy(script(broker, f"""
    got = []
    c = MQTTClient({DEVICE!r}, HOST, PORT, on_message=lambda t, p, r: got.append((t, p, r)))
    await c.connect()
    print("granted", await c.subscribe("dcz/v1/{DEVICE}/config", 1))
    for _ in range(50):
        if got:
            break
        await asyncio.sleep_ms(100)
    print(got)
    await c.disconnect()
""")).stdout
    assert "granted 1" in out
    assert "[('dcz/v1/dcz-test01/config', b'{\"version\":1,\"sampling\":{\"interval_s\":60}}', True)]" in out


def test_anonymous_refused_is_a_typed_error(mosquitto_factory):
    b = mosquitto_factory(anonymous=False)
    out = run_mpy(script(b, f"""
    c = MQTTClient({DEVICE!r}, HOST, PORT)
    try:
        await c.connect()
    except MQTTConnectError as e:
        print("refused", e.code, e.message)
"""), check=True).stdout
    assert out.strip() == "refused 5 not authorised"


def test_wrong_password_is_a_typed_error(mosquitto_factory):
    b = mosquitto_factory(anonymous=False, users={"kit": "right"})
    out = run_mpy(script(b, f"""
    for password in ("wrong", "right"):
        c = MQTTClient({DEVICE!r}, HOST, PORT, username="kit", password=password)
        try:
            await c.connect()
            print("accepted")
            await c.disconnect()
        except MQTTConnectError as e:
            print("refused", e.code)
""")).stdout
    assert out.split("\n")[:2] in (["refused 5", "accepted"], ["refused 4", "accepted"])


def test_nothing_listening_is_a_typed_error():
    from brokers import free_port, BrokerInfo

    b = BrokerInfo("127.0.0.1", free_port(), "none")
    out = run_mpy(script(b, f"""
    c = MQTTClient({DEVICE!r}, HOST, PORT, timeout_ms=2000)
    try:
        await c.connect()
    except MQTTConnectError as e:
        print("refused", e.code)
""")).stdout
    assert out.strip() == "refused -1"


def _scripted_server(name, on_connection, body, runtime):
    """Run the client script `body` against a one-connection TCP server on 127.0.0.1 whose
    `on_connection(conn)` (in a thread) plays the broker's part; return the script's stdout."""
    import socket
    import threading

    from brokers import BrokerInfo

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    held = []

    def accept():
        try:
            conn, _ = srv.accept()
            held.append(conn)
            on_connection(conn)
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    code = script(BrokerInfo("127.0.0.1", srv.getsockname()[1], name), body)
    try:  # a client that waited for ever would end on the harness's own timeout (60 s), an error
        return (run_mpy(code) if runtime == "micropython" else run_cpython(code)).stdout
    finally:
        srv.close()
        for conn in held:
            conn.close()


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_a_server_that_never_answers_connect_times_out_as_a_typed_error(runtime):
    """A host that takes the TCP connection and then says nothing (a broker hung, a captive portal's
    proxy): connect() gives up after timeout_ms with MQTTConnectError, not a hang. Under MicroPython
    the connection is the client's own TCP stream (transport/tcp.py), bounded by its deadline; under
    CPython, asyncio's streams under asyncio.wait_for."""
    import threading

    got = threading.Event()

    def silent(conn):
        got.set()
        conn.recv(1024)  # the CONNECT packet, never answered

    out = _scripted_server("silent", silent, f"""
    c = MQTTClient({DEVICE!r}, HOST, PORT, timeout_ms=800)
    try:
        await c.connect()
        print("connected")
    except MQTTConnectError as e:
        print("refused", e.code, e.message)
""", runtime)
    assert got.is_set(), "the client never connected to the silent server"
    assert out.strip().startswith("refused -1 no CONNACK from 127.0.0.1:"), out


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_a_publish_never_acknowledged_ends_the_connection_after_its_timeout(runtime):
    """A broker that accepts the session (CONNACK) and then never sends PUBACK: publish(qos=1) gives
    up after timeout_ms with MQTTConnectionLost, which says so, and the client is disconnected (the
    connection's state is unknown: the caller connects again and the reading is sent again)."""
    import threading

    published = threading.Event()

    def no_puback(conn):
        conn.recv(1024)  # CONNECT
        conn.sendall(b"\x20\x02\x00\x00")  # CONNACK, accepted
        while not published.is_set():
            data = conn.recv(1024)
            if not data:
                return
            if data[0] & 0xF0 == 0x30:  # the PUBLISH, never acknowledged
                published.set()

    out = _scripted_server("no-puback", no_puback, f"""
    c = MQTTClient({DEVICE!r}, HOST, PORT, keepalive=0, timeout_ms=600)
    await c.connect()
    print("connected", c.connected)
    try:
        await c.publish("dcz/v1/{DEVICE}/up", b"x", qos=1)
        print("acknowledged")
    except MQTTConnectionLost as e:
        print("lost", c.connected, e)
""", runtime)
    assert published.is_set(), "the PUBLISH never reached the server"
    lines = out.strip().splitlines()
    assert lines[0] == "connected True", out
    assert lines[1].startswith("lost False no acknowledgement for packet 1 in 600 ms"), out


def test_broker_going_away_raises_connection_lost(mosquitto_factory):
    b = mosquitto_factory()
    code = script(b, f"""
    c = MQTTClient({DEVICE!r}, HOST, PORT, keepalive=30, timeout_ms=3000)
    await c.connect()
    print("connected")
    try:
        while True:
            await c.publish("x/y", b"z", qos=1)
            await asyncio.sleep_ms(50)
    except MQTTConnectionLost as e:
        print("lost", c.connected)
""")
    from mpy import mpy_env, require_micropython

    script_path = FIRMWARE.parent / "tests" / f".lost_{os.getpid()}.py"
    script_path.write_text(code)
    try:
        proc = subprocess.Popen([require_micropython(), str(script_path)], env=mpy_env(),
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "connected"
        time.sleep(0.3)
        mosquitto_factory.stop(b)
        out, _ = proc.communicate(timeout=20)
        assert out.strip() == "lost False"
    finally:
        script_path.unlink()


def test_link_end_to_end(broker):
    """WifiMqttLink: online status, retained config downlink, an uplink the server decodes, offline."""
    publish_retained(broker, f"dcz/v1/{DEVICE}/config", b'{"version":1,"sampling":{"interval_s":120}}')
    status = Subscriber(broker, f"dcz/v1/{DEVICE}/status")
    up = Subscriber(broker, f"dcz/v1/{DEVICE}/up")
    try:
        out = run_mpy(f"""
import asyncio
from transport.wifi_mqtt import WifiMqttLink, backoff_ms
cfg = {{"wifi": {{"ssid": "lab", "password": "pw"}},
       "mqtt": {{"host": {broker.host!r}, "port": {broker.port}, "username": "", "password": "",
                "keepalive_s": 30}}}}
async def main():
    link = WifiMqttLink(cfg, {DEVICE!r}, "air-outdoor-v1", "0.1.0")
    configs = []
    link.on_config = configs.append
    await link.connect()
    print("connected", link.connected)
    await link.send([{{"seq": 7, "time": 1795449600, "values": {{"pm2_5": 12.34, "temperature": 11.523}},
                      "flags": {{"pm2_5": ["warmup"]}}}},
                     {{"seq": 8, "time": 1795449900, "values": {{"pm2_5": 13.0}}, "errors": []}}])
    for _ in range(50):
        if configs:
            break
        await asyncio.sleep_ms(100)
    print("config", configs)
    await link.close()
    print("backoff", all(0 <= backoff_ms(a) <= min(300000, 1000 << a) for a in range(40)))
asyncio.run(main())
""", extra_path=(compiled_dir(),)).stdout  # precompiled, as on the board (source needs more heap)
        assert "connected True" in out
        assert "config [{'sampling': {'interval_s': 120}}]" in out
        assert "backoff True" in out
        online = status.get()
        s = wire_v1.decode_status(online.topic, online.payload)
        assert (s.state, s.fields["kit"], online.retain) == ("online", "air-outdoor-v1", False)
        msg = up.get()
        u = wire_v1.decode_uplink(msg.topic, msg.payload)
        assert [r.seq for r in u.readings] == [7, 8]
        assert u.readings[0].values == {"pm2_5": 12.34, "temperature": 11.52}
        assert u.readings[0].flags == {"pm2_5": ("warmup",)}
        assert wire_v1.decode_status(f"dcz/v1/{DEVICE}/status", status.get().payload).state == "offline"
    finally:
        status.close()
        up.close()
