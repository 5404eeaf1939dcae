"""The reads behind a host's page: latest values, history buckets, the area's median, a 24-hour mean,
the contribution figures. SQL stays here; the web layer turns the results into a page.

Times are naive UTC, as everywhere in the store.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np


class HostData:
    def __init__(self, store):
        self._con = store._con

    def _q(self, sql: str, params=()) -> list[tuple]:
        cur = self._con.cursor()
        try:
            return cur.execute(sql, list(params)).fetchall()
        finally:
            cur.close()

    # -- now -------------------------------------------------------------------------------------
    def latest(self, device: str, since: datetime) -> dict[str, dict]:
        """quantity -> {value, time, flags} of the newest raw value since `since`."""
        rows = self._q(
            """SELECT quantity, arg_max(value, time), max(time), arg_max(flags, time) FROM raw_values
               WHERE device = ? AND time >= ? GROUP BY quantity""", [device, since])
        return {q: {"value": v, "time": t, "flags": [f for f in (fl or "").split(",") if f]}
                for q, v, t, fl in rows}

    def latest_calibrated(self, device: str, since: datetime) -> dict[str, dict]:
        rows = self._q(
            """SELECT quantity, arg_max(value, time), max(time), arg_max(model || ' ' || model_version, time)
               FROM calibrated_values WHERE device = ? AND time >= ? AND value IS NOT NULL
               GROUP BY quantity""", [device, since])
        return {q: {"value": v, "time": t, "model": m} for q, v, t, m in rows}

    def value_near(self, device: str, quantity: str, at: datetime, tolerance: timedelta) -> float | None:
        rows = self._q(
            """SELECT value FROM raw_values WHERE device = ? AND quantity = ? AND time BETWEEN ? AND ?
               ORDER BY abs(epoch(time) - epoch(?::TIMESTAMP)) LIMIT 1""",
            [device, quantity, at - tolerance, at + tolerance, at])
        return rows[0][0] if rows else None

    def mean(self, device: str, quantity: str, start: datetime, end: datetime,
             calibrated: bool = False) -> tuple[float | None, int]:
        table = "calibrated_values" if calibrated else "raw_values"
        rows = self._q(f"""SELECT avg(value), count(value) FROM {table}
                           WHERE device = ? AND quantity = ? AND time >= ? AND time < ?""",
                       [device, quantity, start, end])
        return rows[0][0], int(rows[0][1])

    def has_calibrated(self, device: str, quantity: str, since: datetime) -> bool:
        return bool(self._q("SELECT 1 FROM calibrated_values WHERE device = ? AND quantity = ? AND time >= ? "
                            "AND value IS NOT NULL LIMIT 1", [device, quantity, since]))

    def samples(self, device: str, quantity: str, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
        return self._q("SELECT time, value FROM raw_values WHERE device = ? AND quantity = ? AND time >= ? "
                       "AND time < ? ORDER BY time", [device, quantity, start, end])

    def last_reading(self, device: str) -> dict | None:
        rows = self._q("SELECT time, received_at, errors, firmware FROM raw_readings WHERE device = ? "
                       "ORDER BY time DESC LIMIT 1", [device])
        return dict(zip(("time", "received_at", "errors", "firmware"), rows[0])) if rows else None

    def quantities(self, device: str, since: datetime) -> list[str]:
        return [q for (q,) in self._q("SELECT DISTINCT quantity FROM raw_values WHERE device = ? AND time >= ?",
                                      [device, since])]

    # -- history ---------------------------------------------------------------------------------
    def series(self, device: str, quantity: str, start: datetime, end: datetime, bucket_s: int,
               calibrated: bool = False) -> list[tuple[datetime, float]]:
        """Bucket means (bucket start, mean) of one quantity, oldest first."""
        table = "calibrated_values" if calibrated else "raw_values"
        return self._q(
            f"""SELECT time_bucket(to_seconds(?), time, ?::TIMESTAMP) AS b, avg(value) FROM {table}
                WHERE device = ? AND quantity = ? AND time >= ? AND time < ? AND value IS NOT NULL
                GROUP BY b ORDER BY b""", [bucket_s, start, device, quantity, start, end])

    def area_median(self, devices: list[str], quantity: str, start: datetime, end: datetime, bucket_s: int,
                    hidden: dict[str, list]) -> list[tuple[datetime, float, int]]:
        """Per bucket, the median over `devices` of each device's bucket mean, and how many devices
        it is taken over. Readings in a device's hidden periods (pauses, deletions) are left out."""
        if not devices:
            return []
        h_dev, h_start, h_end = [], [], []
        for d, periods in hidden.items():
            for s, e in periods:
                h_dev.append(d)
                h_start.append(s)
                h_end.append(e or datetime(9999, 1, 1))
        cur = self._con.cursor()
        try:
            cur.register("hidden_periods", {
                "device": np.array(h_dev + ["\x00"], dtype=object),
                "start_at": np.array(h_start + [datetime(1970, 1, 1)], dtype="datetime64[us]"),
                "end_at": np.array(h_end + [datetime(1970, 1, 1)], dtype="datetime64[us]"),
            })
            return cur.execute(
                """WITH per_device AS (
                       SELECT device, time_bucket(to_seconds(?), time, ?::TIMESTAMP) AS b, avg(value) AS v
                       FROM raw_values r
                       WHERE device IN (SELECT unnest(?)) AND quantity = ? AND time >= ? AND time < ?
                         AND NOT EXISTS (SELECT 1 FROM hidden_periods h WHERE h.device = r.device
                                         AND r.time >= h.start_at AND r.time < h.end_at)
                       GROUP BY device, b)
                   SELECT b, median(v), count(*) FROM per_device GROUP BY b ORDER BY b""",
                [bucket_s, start, list(devices), quantity, start, end]).fetchall()
        finally:
            cur.close()

    # -- contribution ----------------------------------------------------------------------------
    def contribution(self, device: str, now: datetime) -> dict:
        """Readings contributed, days active, first reading, and the share of the hours of the last
        7 days (or since the first reading, when later) that have at least one reading."""
        readings, days, first = self._q(
            """SELECT count(DISTINCT seq), count(DISTINCT CAST(time AS DATE)), min(time)
               FROM raw_values WHERE device = ?""", [device])[0]
        window_start = now - timedelta(days=7)
        if first is not None and first > window_start:
            window_start = first
        hours_with_data = self._q(
            "SELECT count(DISTINCT date_trunc('hour', time)) FROM raw_readings WHERE device = ? AND time >= ? "
            "AND time <= ?", [device, window_start, now])[0][0]
        hours_total = max(1, int((now - window_start).total_seconds() // 3600) + 1)
        uptime = None if first is None else min(1.0, hours_with_data / hours_total)
        return {"readings": int(readings), "days_active": int(days), "first": first, "uptime": uptime}
