"""Every reading arrives exactly once: the real firmware (MicroPython, simulated hardware) -> a relay that
breaks the network -> a real broker -> the real server, with outages, a reboot mid-flush (so an uplink
is delivered twice), a clock that is not set at power-up and a broker that goes away.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

import httpx
import pytest

from brokers import _mosquitto_exe, _wait_listening, free_port

DEVICE = "sim-air-outdoor-v1-01"


def sim_cmd(broker_url, workdir, count, *extra):
    return [sys.executable, "-m", "datacityzen.cli", "sim", "--broker", broker_url, "--kit", "air-outdoor-v1",
            "--devices", "1", "--count", str(count), "--interval", "1", "--workdir", str(workdir),
            "--runtime", "micropython", "--transport", "wifi", "--timeout", "150", *extra]


def unset_clock(workdir, ntp_fail_s):
    """The kit powers up with its clock at 2000-01-01 and NTP out of reach for `ntp_fail_s` seconds."""
    folder = workdir / DEVICE
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sim_hw.json").write_text(json.dumps({"seed": 4, "clock": {"unset": True},
                                                    "ntp": {"fail_for_s": ntp_fail_s}}))


def measured_seqs(stdout):
    m = re.search(rf"^{DEVICE}: .*seqs ([\d,]*)$", stdout, flags=re.M)
    assert m, stdout
    return [int(x) for x in m.group(1).split(",") if x]


def stored(service):
    rows = service.store._con.execute(
        "SELECT seq, time, received_at FROM raw_readings WHERE device = ? ORDER BY seq", [DEVICE]).fetchall()
    values = service.store._con.execute(
        "SELECT count(*), count(DISTINCT (seq, quantity)), count(DISTINCT seq) FROM raw_values WHERE device = ?",
        [DEVICE]).fetchone()
    return rows, values


def wait_for(cond, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


def check_exactly_once(service, seqs, started, finished):
    """Every measured reading stored once, with a real time taken while the device ran."""
    assert wait_for(lambda: len(stored(service)[0]) >= len(set(seqs)))
    time.sleep(0.5)  # let any late duplicate arrive too
    rows, n_values = stored(service)
    assert [r[0] for r in rows] == sorted(set(seqs))
    assert len(seqs) == len(set(seqs))  # the firmware never measured two readings under one seq
    n, distinct, readings_with_values = n_values
    assert n == distinct  # no value stored twice
    assert readings_with_values == len(rows)
    times = [r[1].replace(tzinfo=timezone.utc).timestamp() for r in rows]
    assert times == sorted(times)
    for t in times:  # within the run (whole seconds, the time of the end of the averaging window)
        assert started - 2 <= t <= finished + 2, (t, started, finished)
    assert service.store.quarantined() == []
    return rows


@pytest.mark.slow
def test_outage_reboot_mid_flush_and_unset_clock_store_every_reading_once(make_service, tmp_path):
    # the embedded broker refuses anonymous kits: the simulator registers its kit and logs in as it
    service = make_service(admin_token="sf-admin-token")
    host, port = service.settings.broker_address
    workdir = tmp_path / "sim"
    unset_clock(workdir, ntp_fail_s=2)
    count = 14
    started = time.time()
    proc = subprocess.run(sim_cmd(f"mqtt://{host}:{port}", workdir, count,
                                  # the first uplink always happens (the rest may travel batched in one
                                  # after the outage): pulling the plug there makes the reboot certain
                                  "--outage", "8", "--reboot-mid-flush", "1", "--reboot-mid-flush", "2",
                                  "--reboot-mid-flush", "5",
                                  "--admin-token", "sf-admin-token", "--server", service.http_url),
                          capture_output=True, text=True, timeout=200)
    finished = time.time()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seqs = measured_seqs(proc.stdout)
    boots = int(re.search(r"(\d+) boot\(s\)", proc.stdout).group(1))
    assert boots >= 2  # the reboot at the first uplink happened (later ones depend on how readings batch)
    rows = check_exactly_once(service, seqs, started, finished)
    totals = dict(service.ingest.totals)
    figures = {"measured": len(seqs), "stored": len(rows), "duplicates_received": totals["duplicates"],
               "boots": boots, "seqs": f"{min(seqs)}..{max(seqs)}",
               "seconds": round(finished - started, 1)}
    print("outage+reboot e2e:", json.dumps(figures))
    assert len(rows) >= count
    assert totals["duplicates"] >= 1  # the uplinks cut off before their PUBACK were delivered again
    # the device reported its state (and the spool's counters) in its retained status
    from datacityzen.store import device_reports

    report = device_reports.get(service.store, DEVICE)
    assert report["spool_dropped"] == 0 and report["status"]["boot"] == boots


class RestartableMosquitto:
    """mosquitto on a fixed loopback port that the test can stop and start again (by PID).

    With persistence on, as in production: the server's ingest has a persistent session
    (clean_session false), and only a broker that saves sessions keeps queueing the devices' uplinks
    for it across a restart. Without it, uplinks the broker acknowledged to a device before the
    ingest re-subscribed would be lost (this test fails that way)."""

    def __init__(self):
        self.exe = _mosquitto_exe()
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="dcz-mosq-")
        os.chmod(self.dir, 0o755)
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                    f"persistence_location {self.dir}/\nlog_dest stderr\nlog_type error\n")
        os.chmod(self.conf, 0o644)
        if os.geteuid() == 0:  # mosquitto drops to user `mosquitto` and must write its database here
            try:
                shutil.chown(self.dir, user="mosquitto")
            except (LookupError, OSError):
                pass
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([self.exe, "-c", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        assert _wait_listening(self.port, proc=self.proc), "mosquitto did not start"

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.mark.slow
def test_broker_down_then_back_every_reading_stored_once(make_service, tmp_path):
    broker = RestartableMosquitto()
    broker.start()
    try:
        service = make_service(broker_url=f"mqtt://127.0.0.1:{broker.port}")
        workdir = tmp_path / "sim"
        count = 12
        started = time.time()
        # the reboot mid-flush at the 2nd uplink is over (its uplink delivered twice) once 3 readings
        # are stored; then the broker goes down
        sim = subprocess.Popen(sim_cmd(f"mqtt://127.0.0.1:{broker.port}", workdir, count, "--reboot-mid-flush", "2"),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert wait_for(lambda: len(stored(service)[0]) >= 3, timeout=60), "nothing arrived before the outage"
            broker.stop()  # the broker goes away for a while; the device keeps measuring into its spool
            down_at = time.monotonic()
            time.sleep(10)
            broker.start()
            down_s = time.monotonic() - down_at
            out, _ = sim.communicate(timeout=150)
        finally:
            if sim.poll() is None:
                sim.kill()
        finished = time.time()
        assert sim.returncode == 0, out
        seqs = measured_seqs(out)
        rows = check_exactly_once(service, seqs, started, finished)
        totals = dict(service.ingest.totals)
        print("broker-down e2e:", json.dumps({"measured": len(seqs), "stored": len(rows), "broker_down_s": round(down_s, 1),
                                              "duplicates_received": totals["duplicates"]}))
        assert totals["duplicates"] >= 1
    finally:
        broker.close()
