"""Query benchmark: a synthetic year of one-minute data for 100 devices, queried through the HTTP API and,
in the same run, as the same SQL directly in DuckDB (the baseline).

Queries:
  hourly_one_device_year   hourly means of one device over the year (8,760 rows, JSON)
  daily_all_devices_month  daily means of all 100 devices over June (3,000 rows, JSON)
  export_year_parquet      every value of every device over the year (52.56 M rows, Parquet)
  export_year_csv          the same as CSV

The data goes into raw_values day by day in time order (all devices interleaved, as ingest appends
it), generated inside DuckDB. Through the API each query is fetched by curl (a separate process,
so the client does not compete with the server for the GIL); the direct run executes the store's own
SQL for that request and reads the whole Arrow result. Small queries: median of --repeat runs.

Usage: PYTHONPATH=server python bench/query.py [--devices 100] [--days 365] [--data DIR] [--repeat 5]
The last line printed is one JSON object with the figures and the ratios API / direct.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

import uvicorn  # noqa: E402

from datacityzen.api.app import create_app  # noqa: E402
from datacityzen.api.deps import parse_selection  # noqa: E402
from datacityzen.store.base import Aggregation  # noqa: E402
from datacityzen.store.duckdb_store import DuckDBStore  # noqa: E402

YEAR_START = datetime(2025, 1, 1, tzinfo=timezone.utc)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def generate(store: DuckDBStore, devices: int, days: int) -> int:
    """One value per device per minute (pm2_5), appended one day at a time."""
    cur = store.connection.cursor()
    have = cur.execute("SELECT count(*) FROM raw_values").fetchone()[0]
    want = devices * days * 1440
    if have == want:
        return have
    cur.execute("DELETE FROM raw_values")
    for day in range(days):
        cur.execute(
            """INSERT INTO raw_values
               SELECT 'dev-' || lpad(d::VARCHAR, 3, '0'), m, TIMESTAMP '2025-01-01' + to_minutes(m),
                      'pm2_5', round(8 + 6 * sin(2 * pi() * m / 1440) + d % 7 + (hash(d, m) % 1000) / 250.0, 1),
                      CASE WHEN hash(m, d) % 500 = 0 THEN 'warmup' ELSE '' END
               FROM range(?, ?) s(m), range(?) t(d)
               ORDER BY m, d""",
            [day * 1440, (day + 1) * 1440, devices],
        )
    cur.execute("CHECKPOINT")
    return cur.execute("SELECT count(*) FROM raw_values").fetchone()[0]


class Server:
    def __init__(self, store):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)


def curl(url: str) -> tuple[float, int]:
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}", url],
                         capture_output=True, text=True, check=True).stdout.split()
    if out[0] != "200":
        raise RuntimeError(f"{url}: HTTP {out[0]}")
    return float(out[2]), int(float(out[1]))


def direct(store: DuckDBStore, params: dict) -> tuple[float, int]:
    """The same query the API runs for these parameters, straight from DuckDB into Arrow."""
    sel = parse_selection(params.get("device", "").split(",") if params.get("device") else None, None,
                          [params["quantity"]], params.get("start"), params.get("end"), "raw")
    every = {"1h": 3600, "1d": 86400}.get(params.get("every"))
    sql, args = store.readings_sql(sel, Aggregation(every, params.get("agg", "mean")) if every else None)
    t0 = time.perf_counter()
    cur = store.connection.cursor()
    rows = 0
    for batch in cur.sql(sql, params=args).to_arrow_reader(65_536):
        rows += batch.num_rows
    cur.close()
    return time.perf_counter() - t0, rows


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gb": round(mem_kb / 1024 / 1024, 1),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "python": platform.python_version()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--data", type=Path, default=None, help="keep the generated database here (reused)")
    ap.add_argument("--skip-csv", action="store_true", help="leave out the full CSV export (the slowest)")
    args = ap.parse_args()
    tmp = None
    data = args.data
    if data is None:
        tmp = tempfile.mkdtemp(prefix="dcz-bench-query-")
        data = Path(tmp)
    store = DuckDBStore(data)
    try:
        t0 = time.perf_counter()
        n = generate(store, args.devices, args.days)
        log(f"{n:,} values in {time.perf_counter() - t0:.1f} s ({store.path}, "
            f"{store.path.stat().st_size / 1e6:.0f} MB)")
        end = (YEAR_START + timedelta(days=args.days)).strftime("%Y-%m-%dT%H:%M:%SZ")
        all_devices = ",".join(f"dev-{d:03d}" for d in range(args.devices))
        month = (datetime(2025, 6, 1, tzinfo=timezone.utc), datetime(2025, 7, 1, tzinfo=timezone.utc))
        queries = {
            "hourly_one_device_year": ({"device": f"dev-{args.devices // 2:03d}", "quantity": "pm2_5", "every": "1h",
                                        "agg": "mean", "start": "2025-01-01T00:00:00Z", "end": end}, "json", args.repeat),
            "daily_all_devices_month": ({"device": all_devices, "quantity": "pm2_5", "every": "1d", "agg": "mean",
                                         "start": month[0].strftime("%Y-%m-%dT%H:%M:%SZ"),
                                         "end": month[1].strftime("%Y-%m-%dT%H:%M:%SZ")}, "json", args.repeat),
            "export_year_parquet": ({"device": all_devices, "quantity": "pm2_5", "start": "2025-01-01T00:00:00Z",
                                     "end": end}, "parquet", 1),
        }
        if not args.skip_csv:
            queries["export_year_csv"] = (dict(queries["export_year_parquet"][0]), "csv", 1)
        server = Server(store)
        results = {}
        try:
            for name, (params, fmt, repeat) in queries.items():
                direct_runs = [direct(store, params) for _ in range(repeat)]
                rss_before = maxrss_mb()
                url = f"http://127.0.0.1:{server.port}/api/v1/readings?" + urlencode({**params, "format": fmt})
                api_runs = [curl(url) for _ in range(repeat)]
                if repeat == 1:  # one long run each: run the direct query again, keep the faster (warm cache)
                    direct_runs = [min(direct_runs + [direct(store, params)])]
                d_s = statistics.median(t for t, _ in direct_runs)
                a_s = statistics.median(t for t, _ in api_runs)
                results[name] = {
                    "rows": direct_runs[0][1], "format": fmt, "bytes": api_runs[0][1],
                    "api_s": round(a_s, 4), "direct_duckdb_s": round(d_s, 4), "ratio_api_to_direct": round(a_s / d_s, 2),
                    "api_rows_per_s": round(direct_runs[0][1] / a_s), "peak_rss_growth_mb": round(maxrss_mb() - rss_before),
                }
                log(f"{name}: {results[name]}")
        finally:
            server.stop()
        summary = {"benchmark": "query", "values": n, "devices": args.devices, "days": args.days,
                   "peak_rss_mb": round(maxrss_mb()),
                   "duckdb_memory_limit": store.connection.execute("SELECT current_setting('memory_limit')").fetchone()[0], "machine": machine(), "queries": results}
        print(json.dumps(summary))
    finally:
        store.close()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
