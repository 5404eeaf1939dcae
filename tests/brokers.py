"""Real MQTT brokers for tests, on free loopback ports: mosquitto (a process) and amqtt (in-process).

Use `broker` to run a test against both, or `mosquitto_broker` / `amqtt_broker` for one; the factory
fixtures `mosquitto_factory` take mosquitto config lines (e.g. a broker that refuses anonymous users).
"""
import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass

import pytest

__all__ = ["BrokerInfo", "free_port", "mosquitto_factory", "mosquitto_broker", "amqtt_broker", "broker"]

MOSQUITTO = "/usr/sbin/mosquitto"


@dataclass(frozen=True)
class BrokerInfo:
    host: str
    port: int
    kind: str

    @property
    def url(self):
        return f"mqtt://{self.host}:{self.port}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port, timeout=10.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _mosquitto_exe():
    exe = MOSQUITTO if os.path.exists(MOSQUITTO) else shutil.which("mosquitto")
    if exe is None:
        msg = "mosquitto missing: apt-get install -y mosquitto"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return exe


@pytest.fixture
def mosquitto_factory():
    """start(extra_lines=(), anonymous=True, users=None) -> BrokerInfo; start.stop(info) stops one early (by PID).

    Every broker started is stopped after the test."""
    exe = _mosquitto_exe()
    procs = {}
    dirs = []

    def _stop(proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr:
            proc.stderr.close()

    def start(extra_lines=(), anonymous=True, users=None):
        d = tempfile.mkdtemp(prefix="dcz-mosquitto-")
        dirs.append(d)
        os.chmod(d, 0o755)
        extra_lines = list(extra_lines)
        if users:  # {name: password}: a password file made by mosquitto_passwd
            pw = os.path.join(d, "passwd")
            for i, (name, password) in enumerate(users.items()):
                subprocess.run([shutil.which("mosquitto_passwd") or "mosquitto_passwd", "-b"]
                               + ([] if i else ["-c"]) + [pw, name, password], check=True, capture_output=True)
            os.chmod(pw, 0o644)
            extra_lines.append(f"password_file {pw}")
        if os.geteuid() == 0:  # mosquitto drops to user `mosquitto` when started as root
            try:
                shutil.chown(d, user="mosquitto")
            except (LookupError, OSError):
                pass
        last_err = ""
        for _ in range(3):  # a free port can be taken between probing and binding
            port = free_port()
            conf = os.path.join(d, "mosquitto.conf")
            with open(conf, "w") as f:
                f.write(f"listener {port} 127.0.0.1\n")
                f.write(f"allow_anonymous {'true' if anonymous else 'false'}\n")
                f.write("persistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n")
                for line in extra_lines:
                    f.write(line + "\n")
            os.chmod(conf, 0o644)
            proc = subprocess.Popen([exe, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if _wait_listening(port, proc=proc):
                procs[port] = proc
                return BrokerInfo("127.0.0.1", port, "mosquitto")
            proc.kill()
            last_err = proc.communicate()[1].decode(errors="replace")
        pytest.fail(f"mosquitto did not start: {last_err}")

    start.stop = lambda info: _stop(procs[info.port])
    yield start
    for proc in procs.values():
        _stop(proc)
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def mosquitto_broker(mosquitto_factory):
    return mosquitto_factory()


class _AmqttThread:
    """amqtt's Broker on its own event loop in a daemon thread."""

    def __init__(self, port):
        self.port = port
        self.loop = asyncio.new_event_loop()
        self.broker = None
        self.error = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"amqtt-{port}", daemon=True)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start())
        except BaseException as e:  # reported to the test thread
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    async def _start(self):
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "sys_interval": 0,
            "auth": {"allow-anonymous": True},
        }
        self.broker = Broker(config)
        await self.broker.start()

    def stop(self):
        if self.broker is not None and self.loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self.broker.shutdown(), self.loop)
            try:
                fut.result(timeout=10)
            except Exception:  # shutting down anyway; the thread is a daemon
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture
def amqtt_broker():
    pytest.importorskip("amqtt")
    port = free_port()
    runner = _AmqttThread(port)
    runner.thread.start()
    runner.ready.wait(timeout=15)
    if runner.error is not None or not _wait_listening(port):
        runner.stop()
        pytest.fail(f"amqtt did not start on port {port}: {runner.error!r}")
    yield BrokerInfo("127.0.0.1", port, "amqtt")
    runner.stop()


@pytest.fixture(params=["mosquitto", "amqtt"])
def broker(request):
    return request.getfixturevalue(f"{request.param}_broker")
