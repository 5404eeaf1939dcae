"""Real MQTT brokers for tests, on free loopback ports: mosquitto (a process) and amqtt (in-process).

Use `broker` to run a test against both, or `mosquitto_broker` / `amqtt_broker` for one; the factory
fixtures `mosquitto_factory` take mosquitto config lines (e.g. a broker that refuses anonymous users).
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

import pytest

from mpy import missing_tool

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
        missing_tool("mosquitto missing: apt-get install -y mosquitto")
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


@pytest.fixture
def amqtt_broker():
    """The server's own embedded broker (amqtt), started on a free port."""
    from datacityzen.broker import EmbeddedBroker

    runner = EmbeddedBroker("127.0.0.1", free_port())
    try:
        runner.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    if not _wait_listening(runner.port):
        runner.stop()
        pytest.fail(f"amqtt did not listen on port {runner.port}")
    yield BrokerInfo("127.0.0.1", runner.port, "amqtt")
    runner.stop()


@pytest.fixture(params=["mosquitto", "amqtt"])
def broker(request):
    return request.getfixturevalue(f"{request.param}_broker")
