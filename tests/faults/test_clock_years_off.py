"""A device clock years off: the real firmware (MicroPython unix port, simulated RTC and NTP) against a
running server process and its broker. Whatever the clock says, every reading measured is stored once,
at the time it was really taken (within a few seconds), nothing is quarantined, and the server stays
healthy. How (docs/reliability.md):

- a clock years *ahead* that NTP corrects: readings already in the spool are shifted by NTP's
  correction on the device (spool.shift_times) and leave with the right time;
- a clock years ahead that nothing corrects (NTP unreachable, or NTP itself answering years off): each
  uplink carries the device clock as it is sent (`sent`); the server moves the readings back by
  `sent` - reception and flags them `clock_corrected`;
- a clock years *behind* (before 2024): the firmware takes it as unset, readings wait in the spool with
  boot number and uptime until NTP answers, then leave with their real time.
"""
import re
import time
from datetime import datetime, timezone

import httpx
import pytest

from harness import ADMIN_TOKEN, QUANTITIES, ServerProcess

YEAR = 365 * 86400
COUNT = 10

SCENARIOS = {
    # name: (RTC offset at power-up, the simulated NTP server (Simulator's ntp_* arguments), outage
    # (after_s, for_s) or None)
    "rtc 5 years ahead, NTP late": (5 * YEAR, {"ntp_fail_for_s": 5}, (3.0, 5.0)),
    "rtc 5 years ahead, no NTP": (5 * YEAR, {"ntp_fail": True}, None),
    "rtc right, NTP answers 5 years ahead": (0, {"ntp_offset_s": 5 * YEAR}, None),
    "rtc 7 years behind, NTP late": (-7 * YEAR, {"ntp_fail_for_s": 6}, None),
}


def run(tmp_path, rtc_offset, ntp, outage):
    from datacityzen.sim.credentials import register_remote
    from datacityzen.sim.runner import Simulator, device_ids

    server = ServerProcess(tmp_path / "data")
    server.start()
    lines = []
    try:
        devices = device_ids("air-outdoor-v1", 2)
        credentials = register_remote(server.url, ADMIN_TOKEN, "air-outdoor-v1", devices)
        sim = Simulator(server.broker_address, "air-outdoor-v1", 2, COUNT, 1.0, tmp_path / "sim",
                        runtime="micropython", credentials=credentials, echo=lines.append,
                        clock_offset_s=rtc_offset, outage_s=outage[1] if outage else 0.0,
                        outage_after_s=outage[0] if outage else None, **ntp)
        started = time.time()
        sim.run(120)
        finished = time.time()
        healthy = server.healthy()
        sent = {d.id: list(d.seqs) for d in sim.devices}
        r = httpx.get(server.url + "/api/v1/readings", params={"device": ",".join(devices),
                                                                "quantity": ",".join(QUANTITIES)}, timeout=30)
        r.raise_for_status()
        rows = r.json()
    finally:
        server.stop()
    from datacityzen.store.duckdb_store import DuckDBStore

    store = DuckDBStore(server.data_dir)
    try:
        quarantined = store.quarantined(limit=1000)
    finally:
        store.close()
    return dict(sent=sent, rows=rows, started=started, finished=finished, healthy=healthy,
                quarantined=quarantined, lines=lines)


def epoch(iso):
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_clock_years_off_loses_nothing_and_stores_real_times(tmp_path, capsys, name):
    rtc_offset, ntp, outage = SCENARIOS[name]
    r = run(tmp_path, rtc_offset, ntp, outage)
    sent = {(d, s) for d, seqs in r["sent"].items() for s in seqs}
    values = [(x["device"], x["seq"], x["quantity"]) for x in r["rows"]]
    readings = {}
    for x in r["rows"]:
        readings.setdefault((x["device"], x["seq"]), set()).update(
            {"corrected"} if "clock_corrected" in x["flags"] else set())
    times = {(x["device"], x["seq"]): epoch(x["time"]) for x in r["rows"]}
    worst = max(max(r["started"] - t, t - r["finished"], 0) for t in times.values())
    corrected_on_device = sum(int(m.group(1)) for m in
                              (re.search(r"clock_corrected .*pending=(\d+)", ln) for ln in r["lines"]) if m)
    counts = {"sent": len(sent), "stored": len(readings), "lost": len(sent - set(readings)),
              "duplicated": len(values) - len(set(values)), "quarantined": len(r["quarantined"]),
              "flagged_clock_corrected": sum(1 for f in readings.values() if f),
              "shifted_in_spool": corrected_on_device, "worst_time_error_s": round(worst, 1)}
    with capsys.disabled():
        print(f"\n{name}: {counts}")
    assert len(sent) == 2 * COUNT
    assert set(readings) == sent and counts["duplicated"] == 0
    assert r["quarantined"] == [], [q["reason"] for q in r["quarantined"]]
    assert r["healthy"]
    # every time is when the reading was taken (whole seconds, end of the averaging window), not 2031/2019
    assert worst <= 3, worst
    if name == "rtc 5 years ahead, no NTP" or name == "rtc right, NTP answers 5 years ahead":
        assert counts["flagged_clock_corrected"] >= COUNT  # the server corrected them, and says so
    if name == "rtc 7 years behind, NTP late":
        assert counts["flagged_clock_corrected"] == 0  # they waited for NTP: nothing to correct
    if name == "rtc 5 years ahead, NTP late":
        # readings measured during the outage were shifted on the device once NTP answered
        assert any("clock_corrected" in ln for ln in r["lines"])
