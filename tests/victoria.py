"""A real VictoriaMetrics for tests: a process on a free loopback port, storage in a temporary folder.

`victoria_factory(port=None)` starts one (on `port` when given, e.g. to bring an endpoint up where a
writer was already pointing) and returns a `Victoria` handle; `stop()` stops it by PID. Every process
started is stopped after the test. Reads: `series()` exports everything written (`/api/v1/export`,
timestamps in ms) after `/internal/force_flush`.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time

import httpx
import pytest

from brokers import free_port
from mpy import missing_tool

__all__ = ["Victoria", "victoria_factory", "victoria"]

EXE_CANDIDATES = ("/usr/bin/victoria-metrics", "victoria-metrics", "victoria-metrics-prod")


def victoria_exe():
    for name in EXE_CANDIDATES:
        path = name if os.path.isabs(name) and os.path.exists(name) else shutil.which(name)
        if path:
            return path
    missing_tool("VictoriaMetrics missing: apt-get install -y victoria-metrics")


class Victoria:
    def __init__(self, exe, port, storage):
        self.port, self.storage = port, storage
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [exe, f"-storageDataPath={storage}", f"-httpListenAddr=127.0.0.1:{port}", "-retentionPeriod=100y",
             "-loggerLevel=ERROR"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                pytest.fail("victoria-metrics exited: " + self.proc.stderr.read().decode(errors="replace")[-2000:])
            try:
                if httpx.get(self.url + "/health", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail("victoria-metrics did not answer /health within 15 s")
            time.sleep(0.1)

    def series(self, match='{__name__=~"readings_.*"}'):
        """[(metric labels dict, [(timestamp_ms, value), ...])] of everything stored."""
        httpx.get(self.url + "/internal/force_flush", timeout=10)
        r = httpx.get(self.url + "/api/v1/export", params={"match[]": match}, timeout=30)
        r.raise_for_status()
        out = []
        for line in r.text.splitlines():
            doc = json.loads(line)
            out.append((doc["metric"], list(zip(doc["timestamps"], doc["values"]))))
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()


@pytest.fixture
def victoria_factory():
    exe = victoria_exe()
    started, dirs = [], []

    def start(port=None):
        d = tempfile.mkdtemp(prefix="dcz-vm-")
        dirs.append(d)
        vm = Victoria(exe, port or free_port(), d)
        started.append(vm)
        return vm

    yield start
    for vm in started:
        vm.stop()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def victoria(victoria_factory):
    return victoria_factory()
