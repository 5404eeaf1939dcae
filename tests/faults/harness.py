"""Real processes for the fault tests: the server as `datacityzen serve` (killable), a mosquitto that
keeps its state across restarts on one port, simulated kits running the real firmware, and the
ledger that says what was sent, stored, lost and duplicated.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from brokers import _mosquitto_exe, _wait_listening, free_port

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "faults-admin-token"


def server_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "server"), env.get("PYTHONPATH", "")])
    env.setdefault("DCZ_LOG_LEVEL", "WARNING")
    env["DCZ_ADMIN_TOKEN"] = ADMIN_TOKEN
    env.update(extra or {})
    return env


class ServerProcess:
    """`datacityzen serve` in its own process, on fixed ports so it can be killed and started again."""

    def __init__(self, data_dir: Path, broker: str | None = None, env: dict | None = None, preexec_fn=None,
                 log_path: Path | None = None):
        self.data_dir = Path(data_dir)
        self.http_port, self.mqtt_port = free_port(), free_port()
        self.broker = broker
        self.env = server_env(env)
        self.preexec_fn = preexec_fn
        self.proc: subprocess.Popen | None = None
        self.log_path = Path(log_path or self.data_dir.parent / f"{self.data_dir.name}-server.log")
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def broker_address(self) -> tuple[str, int]:
        if self.broker:
            host, port = self.broker.removeprefix("mqtt://").split(":")
            return host, int(port)
        return "127.0.0.1", self.mqtt_port

    def start(self, timeout: float = 30.0) -> None:
        cmd = [sys.executable, "-m", "datacityzen.cli", "serve", "--data", str(self.data_dir),
               "--http-port", str(self.http_port), "--mqtt-port", str(self.mqtt_port)]
        if self.broker:
            cmd += ["--broker", self.broker]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     preexec_fn=self.preexec_fn)
        log.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}:\n{self.log()}")
            if self.healthy():
                return
            time.sleep(0.1)
        raise AssertionError(f"server did not answer on {self.url}:\n{self.log()}")

    def healthy(self) -> bool:
        try:
            return httpx.get(self.url + "/api/v1/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the power goes."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


class RestartableMosquitto:
    """mosquitto on one port with persistence, so a restart keeps the server's queued session."""

    def __init__(self):
        # Under /tmp, not pytest's tmp_path: started as root, mosquitto runs as user `mosquitto`,
        # which cannot reach into root's 0700 pytest folders to write its persistence file.
        self.dir = Path(tempfile.mkdtemp(prefix="dcz-mosquitto-"))
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.exe = _mosquitto_exe()
        self.proc: subprocess.Popen | None = None
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence true\npersistence_location {self.dir}/\nautosave_interval 1\n"
            "log_dest stderr\nlog_type error\n"
        )
        os.chmod(self.conf, 0o644)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        if os.geteuid() == 0:
            try:
                shutil.chown(self.dir, user="mosquitto")
            except (LookupError, OSError):
                pass
        for _ in range(50):  # the port is ours, but the old socket may linger a moment
            self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
            if _wait_listening(self.port, timeout=5, proc=self.proc):
                return
            self.proc.wait()
            time.sleep(0.2)
        raise AssertionError(f"mosquitto did not restart on port {self.port}: {self.proc.stderr.read()!r}")

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its persistence file and exits, as `systemctl restart` does."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def registered_simulator(server_url: str, broker_address, workdir: Path, devices: int, count: int,
                         interval_s: float = 1.0):
    """Simulated air-outdoor-v1 kits registered on the server, each logging in with its own credentials."""
    from datacityzen.sim.credentials import register_remote
    from datacityzen.sim.runner import Simulator, device_ids

    credentials = register_remote(server_url, ADMIN_TOKEN, "air-outdoor-v1", device_ids("air-outdoor-v1", devices))
    return Simulator(broker_address, "air-outdoor-v1", devices, count, interval_s, workdir, runtime="micropython",
                     credentials=credentials)


@dataclass
class Ledger:
    """What the devices sent against what the server holds, per (device, seq)."""

    sent: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    quarantined: int = 0
    missing: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"sent": self.sent, "stored": self.stored, "lost": self.lost, "duplicated": self.duplicated,
                "quarantined": self.quarantined}


QUANTITIES = ("pm2_5", "pm10", "temperature", "humidity", "pressure")  # air-outdoor-v1


def stored_rows(url: str, devices: list[str], quantities=QUANTITIES) -> list[dict]:
    r = httpx.get(url + "/api/v1/readings", params={"device": ",".join(devices), "quantity": ",".join(quantities)},
                  timeout=30)
    r.raise_for_status()
    return r.json()


def ledger(url: str, sent: dict[str, int], quantities=QUANTITIES) -> Ledger:
    """`sent`: device -> readings it measured, seq 0..n-1 on a fresh device. A reading counts as
    stored when any of its values is (a sensor fault can leave a reading without PM, say); it counts
    as duplicated for each value the API returns more than once."""
    rows = stored_rows(url, sorted(sent), quantities)
    values = [(r["device"], r["seq"], r["quantity"]) for r in rows]
    have = {(d, s) for d, s, _ in values}
    out = Ledger(sent=sum(sent.values()), stored=len(have), duplicated=len(values) - len(set(values)))
    for device, n in sent.items():
        out.missing += [(device, s) for s in range(n) if (device, s) not in have]
    out.lost = len(out.missing)
    return out


def wait_until(predicate, timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def run_in_thread(fn, *args) -> tuple[threading.Thread, list]:
    """Run fn(*args) in a thread; the list gets the exception if it raised."""
    errors: list = []

    def target():
        try:
            fn(*args)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, errors
