"""The time-series endpoint (a real VictoriaMetrics) down for an hour of readings, on a real server
process: kits post an hour of device time (compressed: one device interval every few tens of
milliseconds) over HTTP (`POST /api/v1/ingest/wire`) while VictoriaMetrics is stopped, then it comes
back on the same port and storage. Every reading is in DuckDB at once and in VictoriaMetrics after the
recovery, once; the server answers /api/v1/health throughout, which shows the outbox growing and
draining. With a small outbox bound the oldest lines are dropped, and the drop is counted in health
and logged: every line queued is either in VictoriaMetrics or counted dropped.
"""
import json
import threading
import time
from collections import Counter

import httpx
import pytest

from harness import ADMIN_TOKEN, ServerProcess, wait_until
from victoria import Victoria, victoria_exe, victoria_factory  # noqa: F401  (fixture)

PATH = "/api/v1/ingest/wire"
INTERVAL_S = 30  # device time between readings
COMPRESSION = 150  # device seconds per wall second while streaming


def register(url, devices):
    tokens = {}
    for i, device in enumerate(devices):
        r = httpx.post(url + "/api/v1/admin/devices", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                       json={"kit": "air-outdoor-v1", "name": f"outage kit {i}", "lat": 44.84 + i / 1000,
                             "lon": -0.57, "id": device}, timeout=30)
        assert r.status_code in (200, 201), r.text
        tokens[device] = r.json()["http"]["token"]
    return tokens


class HealthWatch:
    """Polls /api/v1/health every 0.2 s in a thread: failures and the largest outbox seen."""

    def __init__(self, url):
        self.url, self.polls, self.failures, self.max_pending, self.unreachable_seen = url, 0, [], 0, False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        with httpx.Client(timeout=5) as c:
            while not self._stop.is_set():
                try:
                    r = c.get(self.url + "/api/v1/health")
                    if r.status_code != 200:
                        self.failures.append(r.status_code)
                    else:
                        ts = r.json()["timeseries"]
                        self.max_pending = max(self.max_pending, ts["pending"])
                        self.unreachable_seen |= not ts["reachable"]
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                self.polls += 1
                self._stop.wait(0.2)

    def stop(self):
        self._stop.set()
        self._thread.join(10)


def stream(url, tokens, t_start, seconds, seq0):
    """Post each device's readings from device time t_start for `seconds`, paced at COMPRESSION x.
    Returns {device: [seq, ...] acknowledged with 200}."""
    acked = {d: [] for d in tokens}
    steps = seconds // INTERVAL_S
    began = time.monotonic()
    with httpx.Client(base_url=url, timeout=30) as c:
        for k in range(steps):
            due = began + k * INTERVAL_S / COMPRESSION
            if due > time.monotonic():
                time.sleep(due - time.monotonic())
            for n, (device, token) in enumerate(sorted(tokens.items())):
                seq = seq0 + k
                doc = {"version": 1, "device": device, "kit": "air-outdoor-v1", "firmware": "0.1.0",
                       "readings": [{"seq": seq, "time": t_start + k * INTERVAL_S + n,
                                     "values": {"pm2_5": 5 + (seq % 17) / 4, "pm10": 9 + (seq % 13) / 4,
                                                "temperature": 11.5 + n / 10, "humidity": 80.0,
                                                "pressure": 1016.3}}]}
                r = c.post(PATH, content=json.dumps(doc), headers={"Authorization": f"Bearer {token}"})
                assert r.status_code == 200, r.text
                assert r.json() == {"stored": 1, "duplicates": 0}
                acked[device].append(seq)
    return acked


def timeseries(url):
    return httpx.get(url + "/api/v1/health", timeout=10).json()["timeseries"]


def vm_points(vm):
    """{(device, layer, ts_ms)}: one point per line written, and the samples seen more than once."""
    points, samples = set(), Counter()
    for metric, pairs in vm.series():
        for ts, value in pairs:
            points.add((metric["device"], metric["layer"], ts))
            samples[(metric["__name__"], metric["device"], metric["layer"], ts)] += 1
    return points, sum(n - 1 for n in samples.values())


def duckdb_readings(url, devices):
    r = httpx.get(url + "/api/v1/readings", params={"device": ",".join(devices), "quantity": "pm2_5,temperature"},
                  timeout=30)
    r.raise_for_status()
    rows = r.json()
    keys = [(x["device"], x["seq"], x["quantity"]) for x in rows]
    return {(d, s) for d, s, _ in keys}, len(keys) - len(set(keys))


def run_outage(tmp_path, victoria_factory, devices, outage_s, env):
    vm = victoria_factory()
    server = ServerProcess(tmp_path / "data", env={
        "DCZ_INFLUX_URL": vm.url, "DCZ_INFLUX_MAX_BACKOFF_S": "2",
        # one test client posts for every kit: the address and device buckets are tested elsewhere
        "DCZ_RATE_PER_ADDRESS": "1000", "DCZ_RATE_BURST_PER_ADDRESS": "5000", "DCZ_RATE_PER_DEVICE": "100", **env})
    server.start()
    try:
        tokens = register(server.url, devices)
        watch = HealthWatch(server.url)
        t0 = int(time.time()) - outage_s - 600
        before = stream(server.url, tokens, t0, 300, 0)  # 5 minutes with the endpoint up
        assert wait_until(lambda: timeseries(server.url)["pending"] == 0, 30)
        vm.stop()  # the endpoint goes down ...
        started = time.monotonic()
        during = stream(server.url, tokens, t0 + 300, outage_s, 300 // INTERVAL_S)  # ... for an hour of readings
        streamed_s = time.monotonic() - started
        pending_at_end = timeseries(server.url)["pending"]
        vm_again = Victoria(victoria_exe(), vm.port, vm.storage)  # same port, same storage
        try:
            drained = wait_until(lambda: timeseries(server.url)["pending"] == 0, 60, every=0.5)
            stats = timeseries(server.url)
            watch.stop()
            points, vm_dups = vm_points(vm_again)
        finally:
            vm_again.stop()
        sent = {(d, s) for acked in (before, during) for d, seqs in acked.items() for s in seqs}
        stored, db_dups = duckdb_readings(server.url, devices)
        raw_points = {(d, ts) for d, layer, ts in points if layer == "raw"}
        return dict(server=server, sent=sent, stored=stored, db_dups=db_dups, points=points, raw_points=raw_points,
                    vm_dups=vm_dups, stats=stats, drained=drained, watch=watch, pending_at_end=pending_at_end,
                    streamed_s=streamed_s, log=server.log())
    finally:
        server.stop()


@pytest.mark.slow
def test_victoriametrics_down_for_an_hour_of_readings_loses_and_duplicates_nothing(tmp_path, victoria_factory,
                                                                                    capsys):
    devices = [f"vm-outage-{i}" for i in range(6)]
    r = run_outage(tmp_path, victoria_factory, devices, 3600, {})
    sent, watch, stats = r["sent"], r["watch"], r["stats"]
    counts = {"sent": len(sent), "stored_duckdb": len(r["stored"]), "stored_victoria": len(r["raw_points"]),
              "lost": len(sent - r["stored"]) + (len(sent) - len(r["raw_points"])),
              "duplicated": r["db_dups"] + r["vm_dups"], "outbox_peak_lines": watch.max_pending,
              "dropped_lines": stats["dropped"], "health_polls": watch.polls, "health_failures": len(watch.failures),
              "streamed_s": round(r["streamed_s"], 1)}
    with capsys.disabled():
        print(f"\nVictoriaMetrics down for 3600 s of device time: {counts}")
    assert len(sent) == len(devices) * (300 + 3600) // INTERVAL_S
    assert r["stored"] == sent and r["db_dups"] == 0
    assert r["drained"], stats
    assert len(r["raw_points"]) == len(sent) and r["vm_dups"] == 0
    assert stats["dropped"] == 0 and stats["rejected"] == 0 and stats["reachable"]
    assert stats["sent"] == stats["queued"] == len(r["points"])  # raw and calibrated lines, each once
    # the outbox held the hour while the endpoint was down, and health said it was unreachable
    assert r["pending_at_end"] >= len(devices) * 3600 // INTERVAL_S and watch.unreachable_seen
    assert watch.failures == [] and watch.polls > 20


@pytest.mark.slow
def test_past_its_bound_the_outbox_drops_the_oldest_lines_and_counts_them(tmp_path, victoria_factory, capsys):
    devices = [f"vm-bound-{i}" for i in range(3)]
    bound = 100
    r = run_outage(tmp_path, victoria_factory, devices, 1200, {"DCZ_INFLUX_MAX_PENDING": str(bound)})
    stats, points = r["stats"], r["points"]
    with capsys.disabled():
        print(f"\noutbox bound {bound} lines, VictoriaMetrics down for 1200 s of device time: sent {len(r['sent'])} "
              f"readings, stored in DuckDB {len(r['stored'])}, lines queued {stats['queued']}, in VictoriaMetrics "
              f"{len(points)}, dropped and counted {stats['dropped']}")
    assert r["stored"] == r["sent"] and r["db_dups"] == 0  # DuckDB keeps everything regardless
    assert r["drained"] and r["vm_dups"] == 0
    assert stats["dropped"] > 0
    assert len(points) + stats["dropped"] == stats["queued"]  # each line is in VictoriaMetrics or counted
    assert "lines dropped" in r["log"]
    assert r["watch"].failures == []
