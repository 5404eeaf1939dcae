"""Every reading arrives exactly once over LoRaWAN: the real firmware (MicroPython, simulated chips and a
simulated LoRa-E5 speaking its AT commands) -> the simulator's network server -> The Things Stack v3
webhooks -> the real server, with a radio outage (uplinks lost, no ACK) and reboots after the network
server got an uplink but before its ACK reached the device; joins that fail, and a server that refuses
the webhooks.
"""
import json
import re
import subprocess
import sys
import time
from datetime import timezone

import pytest

DEVICE = "sim-air-outdoor-v1-01"
SECRET = "lorawan-e2e-secret"
ADMIN = "lorawan-e2e-admin"
PLAUSIBLE = {"temperature": (-15, 45), "humidity": (1, 100), "pressure": (950, 1060), "pm2_5": (0, 500),
             "pm10": (0, 500)}


def run_sim(service, workdir, count, *extra, secret=SECRET):
    cmd = [sys.executable, "-m", "datacityzen.cli", "sim", "--kit", "air-outdoor-v1", "--devices", "1",
           "--count", str(count), "--interval", "1", "--workdir", str(workdir), "--runtime", "micropython",
           "--transport", "lorawan", "--timeout", "120", "--verbose", "--admin-token", ADMIN,
           "--server", service.http_url, "--ttn-secret", secret, *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=200)


def measured(stdout):
    """seq -> number of values, from the firmware's `dcz measured seq=S n=N` lines (all boots)."""
    return {int(s): int(n) for s, n in re.findall(rf"\[{DEVICE}\] dcz measured seq=(\d+) n=(\d+)", stdout)}


@pytest.mark.slow
def test_outage_and_reboots_store_every_reading_once(make_service, tmp_path):
    service = make_service(admin_token=ADMIN, ttn_secret=SECRET)
    workdir = tmp_path / "sim"
    count = 14
    started = time.time()
    proc = run_sim(service, workdir, count, "--outage", "8", "--reboot-mid-flush", "1", "--reboot-mid-flush", "4")
    finished = time.time()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    seqs = measured(proc.stdout)
    assert len(seqs) >= count
    boots = int(re.search(r"(\d+) boot\(s\)", proc.stdout).group(1))
    assert boots >= 2  # the plug was pulled after the network server had uplink 1, before its ACK
    # the outage was felt: uplinks without ACK, or (once the link gave up its session) failed joins;
    # the modem fails nothing else here
    assert "no ACK for an uplink" in out or "LoRaWAN join failed" in out
    # the device booted with its clock unset (year 2000), no IP for NTP: the network's DeviceTimeAns set it
    assert "dcz clock_from_link " in out and "dcz ntp_failed" not in out, out[-4000:]

    con = service.store._con.cursor()
    rows = con.execute("SELECT seq, time, transport, radio FROM raw_readings WHERE device = ? ORDER BY seq",
                       [DEVICE]).fetchall()
    assert [r[0] for r in rows] == sorted(seqs)  # every reading measured is stored, once (primary key)
    for seq, t, transport, radio in rows:
        assert transport == "lorawan"
        assert started - 2 <= t.replace(tzinfo=timezone.utc).timestamp() <= finished + 2
        r = json.loads(radio)
        assert r["network"] == "ttn" and r["sf"] == 7 and r["gateway"] == "sim-gateway-1"
        assert r["dev_eui"].startswith("2CF7F1") and isinstance(r["rssi"], int) and "snr" in r
    values = con.execute("SELECT seq, quantity, value FROM raw_values WHERE device = ?", [DEVICE]).fetchall()
    per_seq = {}
    for seq, q, v in values:
        per_seq.setdefault(seq, {})[q] = v
        low, high = PLAUSIBLE[q]
        assert low <= v <= high, (seq, q, v)
    assert len(values) == len({(s, q) for s, q, _ in values})  # no value twice
    assert {s: len(v) for s, v in per_seq.items() if v} == {s: n for s, n in seqs.items() if n}
    totals = dict(service.app.state.lorawan_totals)
    assert totals["duplicates"] >= 1  # the uplink whose ACK never arrived came again after the reboot
    assert service.store.quarantined() == []
    print("lorawan e2e:", json.dumps({"measured": len(seqs), "stored": len(rows), "boots": boots,
                                      "duplicates_received": totals["duplicates"],
                                      "seconds": round(finished - started, 1)}))


@pytest.mark.slow
def test_a_wrong_secret_gets_no_ack_and_the_readings_wait(make_service, tmp_path):
    """The server refuses the network server's webhooks (401): no ACK reaches the device, nothing is
    acknowledged in its spool, and the simulator does not claim success."""
    service = make_service(admin_token=ADMIN, ttn_secret=SECRET)
    workdir = tmp_path / "sim"
    (workdir / DEVICE).mkdir(parents=True)
    # and the modem's first two joins find no network: the link backs off and joins at the third
    (workdir / DEVICE / "sim_hw.json").write_text(json.dumps({"seed": 5, "lorawan": {"faults": {"join_fail": 2}}}))
    proc = run_sim(service, workdir, 2, "--timeout", "15", secret="not-the-secret")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "timed out waiting for acknowledgements" in out and "refused the LoRaWAN webhook: 401" in out
    assert out.count("LoRaWAN join failed") == 2 and "lorawan_joined" in out
    assert "acked=0" in out and "dcz acked" not in proc.stdout
    assert service.store._con.execute("SELECT count(*) FROM raw_readings").fetchone()[0] == 0
