"""Every reading arrives exactly once over the cellular link: the real firmware (MicroPython) -> the
simulated SIM800 / SIM7080G on its fake UART -> a real TCP socket through the runner's relay -> the
server's real broker -> the real server; with an outage (the modem loses registration, its connection
drops) and reboots mid-flush (an uplink reaches the broker, its PUBACK never reaches the device)."""
import json
import re
import subprocess
import sys
import time

import pytest

from test_store_and_forward_e2e import DEVICE, check_exactly_once, measured_seqs


@pytest.mark.slow
@pytest.mark.parametrize("modem", ["sim7080g", "sim800"])
def test_cellular_outage_and_reboot_mid_flush_store_every_reading_once(make_service, tmp_path, modem):
    service = make_service(admin_token="cell-admin-token")
    host, port = service.settings.broker_address
    count = 12
    started = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "datacityzen.cli", "sim", "--broker", f"mqtt://{host}:{port}", "--kit",
         "air-outdoor-v1", "--devices", "1", "--count", str(count), "--interval", "1", "--workdir",
         str(tmp_path / "sim"), "--runtime", "micropython", "--transport", "cellular", "--modem", modem,
         "--timeout", "150", "--outage", "6", "--reboot-mid-flush", "1", "--reboot-mid-flush", "4",
         "--admin-token", "cell-admin-token", "--server", service.http_url, "--verbose"],
        capture_output=True, text=True, timeout=200)
    finished = time.time()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seqs = measured_seqs(proc.stdout)
    boots = int(re.search(r"(\d+) boot\(s\)", proc.stdout).group(1))
    assert boots >= 2  # the plug was pulled at the first uplink, after the broker had it
    # the device booted with its clock unset (year 2000) and no NTP (no IP route of its own): the
    # modem's network time set it, and every reading got its real time (check_exactly_once: within the run)
    assert "dcz clock_from_link " in proc.stdout and "dcz ntp_failed" not in proc.stdout, proc.stdout[-4000:]
    rows = check_exactly_once(service, seqs, started, finished)
    # the outage took the connection down under a running device: more connections than boots
    connects = len(re.findall(r"\] dcz connected ", proc.stdout))
    assert connects > boots, proc.stdout
    totals = dict(service.ingest.totals)
    print(f"cellular {modem} outage+reboot e2e:", json.dumps({
        "measured": len(seqs), "stored": len(rows), "lost": len(set(seqs)) - len(rows),
        "duplicates_received": totals["duplicates"], "boots": boots, "connects": connects, "seconds": round(finished - started, 1)}))
    assert len(rows) >= count
    assert totals["duplicates"] >= 1  # the uplink cut off before its PUBACK was delivered again
    from datacityzen.store import device_reports

    report = device_reports.get(service.store, DEVICE)
    assert report["spool_dropped"] == 0 and report["status"]["boot"] == boots
    # the status says what the modem reports (the simulated modem: +CSQ: 18, registered at home)
    assert report["status"]["cellular"] == {"modem": modem, "rssi_dbm": -77, "registration": "home"}
