"""Embedded default store: one DuckDB file under the data directory.

Two tables make the raw layer: `raw_readings` (one row per device and sequence number, with
provenance) and `raw_values` (one row per reading and quantity, with the firmware's flags). Bulk
inserts go through DuckDB's scan of numpy arrays; idempotence is an anti-join on (device, seq), so a
message delivered twice, or a batch repeating itself, stores each reading once.

The calibrated layer (`calibrated_values`) sits beside it; queries read either layer through the
same `Selection`, optionally aggregated in fixed windows, and come back as Arrow record batches
straight from DuckDB's streaming result: a year of one-minute data is never held in memory.

Extension point: `insert_hooks` and `calibrated_hooks` run inside the insert transaction with the
new rows visible to the cursor (`new_keys`, `batch_readings`, `batch_values`; `batch_calibrated`),
so whatever they write (the time-series mirror's outbox) commits or rolls back with the readings.
"""
from __future__ import annotations

import json
import os
import re
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Sequence

import duckdb
import numpy as np
import pyarrow as pa

from .base import Aggregation, InsertResult, QuarantineEntry, ReadingBatch, Selection

SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    id VARCHAR PRIMARY KEY,
    kit VARCHAR,
    firmware VARCHAR,
    first_seen TIMESTAMP,
    last_seen TIMESTAMP,
    state VARCHAR,
    status VARCHAR
);
CREATE TABLE IF NOT EXISTS raw_readings (
    device VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    time TIMESTAMP NOT NULL,
    kit VARCHAR,
    firmware VARCHAR,
    received_at TIMESTAMP NOT NULL,
    transport VARCHAR,
    errors VARCHAR,
    radio VARCHAR,
    PRIMARY KEY (device, seq)
);
CREATE TABLE IF NOT EXISTS raw_values (
    device VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    time TIMESTAMP NOT NULL,
    quantity VARCHAR NOT NULL,
    value DOUBLE NOT NULL,
    flags VARCHAR
);
-- Where a device stands (written at registration). lat/lon are the host's exact location: private,
-- never in a public output. public_lat/public_lon are the snapped location every public output uses
-- (a fixed grid cell of precision_m metres, at least 100 m unless the host opted in to exact).
CREATE TABLE IF NOT EXISTS device_sites (
    device VARCHAR PRIMARY KEY,
    lat DOUBLE,
    lon DOUBLE,
    altitude_m DOUBLE,
    precision_m INTEGER NOT NULL DEFAULT 100,
    public_lat DOUBLE,
    public_lon DOUBLE
);
-- The calibrated layer (issue 6): one row per raw value a calibration covers, recomputable from raw
-- values + the model version at any time; raw_values are never changed.
CREATE TABLE IF NOT EXISTS calibrations (
    id VARCHAR PRIMARY KEY,          -- e.g. 'cal-0001'
    device VARCHAR NOT NULL,
    quantity VARCHAR NOT NULL,       -- the quantity it corrects, e.g. pm2_5
    model VARCHAR NOT NULL,          -- model name, e.g. 'epa-2021' or 'linear'
    model_version VARCHAR NOT NULL,  -- e.g. '1' or a content hash of a fitted model file
    params VARCHAR NOT NULL,         -- the model as JSON (enough to recompute)
    valid_from TIMESTAMP NOT NULL,
    valid_to TIMESTAMP,              -- NULL: open-ended
    assigned_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS calibrated_values (
    device VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    time TIMESTAMP NOT NULL,
    quantity VARCHAR NOT NULL,
    value DOUBLE,                    -- NULL when the flags exclude the value
    flags VARCHAR,                   -- comma-separated quality flags
    model VARCHAR NOT NULL,
    model_version VARCHAR NOT NULL,
    calibration VARCHAR NOT NULL     -- calibrations.id
);
CREATE TABLE IF NOT EXISTS quarantine (
    received_at TIMESTAMP NOT NULL,
    source VARCHAR,
    topic VARCHAR,
    reason VARCHAR NOT NULL,
    payload BLOB
);
"""


DEFAULT_MEMORY_LIMIT = "2GB"


def _memory_limit() -> str:
    """DCZ_DUCKDB_MEMORY_LIMIT (e.g. 512MB, 4GB), default 2GB."""
    value = os.environ.get("DCZ_DUCKDB_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT).strip()
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", value, flags=re.I):
        raise ValueError(f"DCZ_DUCKDB_MEMORY_LIMIT={value!r} must look like 512MB or 4GB")
    return value


def _naive_utc(t: datetime | None) -> datetime | None:
    if t is None or t.tzinfo is None:
        return t
    return t.astimezone(timezone.utc).replace(tzinfo=None)


@contextmanager
def in_transaction(cur: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction on `cur`: COMMIT when the block ends, ROLLBACK (and re-raise) when it raises.

    For a writer that holds the write lock and reads through the cursor before its transaction
    begins (store/calibrated.py); every other write is `DuckDBStore.transaction()`.
    """
    cur.execute("BEGIN TRANSACTION")
    try:
        yield cur
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise


class DuckDBStore:
    """The embedded store. Thread-safe: writes are serialised, reads use their own cursors."""

    FILENAME = "datacityzen.duckdb"

    def __init__(self, data_dir: str | Path, read_only: bool = False):
        """Open (or create) the store. `read_only` opens an existing file for reading only (tools that
        run beside a stopped server); a file another process has open for writing cannot be opened."""
        self.path = Path(data_dir) / self.FILENAME
        if read_only:
            if not self.path.exists():
                raise FileNotFoundError(f"no DataCityZen database at {self.path}")
            self._con = duckdb.connect(str(self.path), read_only=True)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._con = duckdb.connect(str(self.path))
        self._write_lock = threading.Lock()
        # A bound on DuckDB's working memory: a full export sorts every row it returns, and past this
        # the sort spills to DATA_DIR/datacityzen.duckdb.tmp instead of growing the process.
        self._con.execute(f"SET memory_limit = '{_memory_limit()}'")
        if not read_only:
            self._con.execute(SCHEMA)
        # Called inside the insert transaction with the cursor (see the module docstring).
        self.insert_hooks: list[Callable] = []
        self.calibrated_hooks: list[Callable] = []

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """For modules under `store/` that keep their own tables in the same file."""
        return self._con

    @property
    def write_lock(self) -> threading.Lock:
        return self._write_lock

    @contextmanager
    def transaction(self, **views) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write in one transaction: under the write lock, on a cursor of its own (closed after),
        committed when the block ends, rolled back when it raises. `views` (name=columns) are
        registered on the cursor before the transaction begins.

        The modules under `store/` that keep their own tables write through this too.
        """
        with self._write_lock:
            cur = self._con.cursor()
            try:
                for name, columns in views.items():
                    cur.register(name, columns)
                with in_transaction(cur):
                    yield cur
            finally:
                cur.close()

    # -- writes ---------------------------------------------------------------------------------
    def insert(self, batch: ReadingBatch) -> InsertResult:
        if len(batch) == 0:
            return InsertResult(0, 0)
        readings = {
            "device": batch.readings_device,
            "seq": batch.readings_seq,
            "time": batch.readings_time,
            "kit": batch.readings_kit,
            "firmware": batch.readings_firmware,
            "received_at": batch.readings_received_at,
            "transport": batch.readings_transport,
            "errors": batch.readings_errors,
            "radio": batch.readings_radio if batch.readings_radio is not None
            else np.full(len(batch), None, dtype=object),
        }
        values = {
            "device": batch.values_device,
            "seq": batch.values_seq,
            "time": batch.values_time,
            "quantity": batch.values_quantity,
            "value": batch.values_value,
            "flags": batch.values_flags,
        }
        with self.transaction(batch_readings=readings, batch_values=values) as cur:
            cur.execute(
                """CREATE OR REPLACE TEMP TABLE new_keys AS
                   SELECT DISTINCT device, seq FROM batch_readings
                   ANTI JOIN raw_readings USING (device, seq)"""
            )
            cur.execute(
                """INSERT INTO raw_readings
                   SELECT DISTINCT ON (device, seq) b.device, b.seq, b.time, b.kit, b.firmware,
                          b.received_at, b.transport, b.errors, b.radio
                   FROM batch_readings b SEMI JOIN new_keys USING (device, seq)"""
            )
            cur.execute(
                """INSERT INTO raw_values
                   SELECT DISTINCT ON (device, seq, quantity) v.device, v.seq, v.time, v.quantity,
                          v.value, v.flags
                   FROM batch_values v SEMI JOIN new_keys USING (device, seq)"""
            )
            stored = cur.execute("SELECT count(*) FROM new_keys").fetchone()[0]
            for hook in self.insert_hooks:
                hook(cur)
            cur.execute(
                """INSERT INTO devices (id, kit, firmware, first_seen, last_seen, state)
                   SELECT device, arg_max(kit, received_at), arg_max(firmware, received_at),
                          min(received_at), max(received_at), 'online'
                   FROM batch_readings GROUP BY device
                   ON CONFLICT (id) DO UPDATE SET
                       kit = excluded.kit, firmware = excluded.firmware,
                       last_seen = greatest(devices.last_seen, excluded.last_seen)"""
            )
        devices = tuple(sorted(set(batch.readings_device.tolist())))
        return InsertResult(stored=int(stored), duplicates=len(batch) - int(stored), devices=devices)

    CALIBRATED_COLUMNS = ("device", "seq", "time", "quantity", "value", "flags", "model", "model_version",
                          "calibration")

    def insert_calibrated(self, columns: dict[str, np.ndarray]) -> int:
        """Append calibrated values (one array per column of `calibrated_values`), in one transaction.

        The calibration helpers may write the table themselves; going through here also runs the
        `calibrated_hooks` (the time-series mirror), so the calibrated layer is mirrored too.
        """
        n = len(columns["seq"])
        if n == 0:
            return 0
        rows = {c: columns[c] for c in self.CALIBRATED_COLUMNS}
        with self.transaction(batch_calibrated=rows) as cur:
            cur.execute(
                f"INSERT INTO calibrated_values SELECT {', '.join(self.CALIBRATED_COLUMNS)} "
                "FROM batch_calibrated"
            )
            for hook in self.calibrated_hooks:
                hook(cur)
        return n

    def set_site(self, device: str, lat: float, lon: float, public_lat: float, public_lon: float,
                 precision_m: int = 100, altitude_m: float | None = None) -> None:
        """Where a device stands (registration writes this; tests and tools too)."""
        with self._write_lock:
            self._con.cursor().execute(
                """INSERT OR REPLACE INTO device_sites
                   (device, lat, lon, altitude_m, precision_m, public_lat, public_lon)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                [device, lat, lon, altitude_m, precision_m, public_lat, public_lon],
            )

    def quarantine(self, entries: Sequence[QuarantineEntry]) -> None:
        if not entries:
            return
        rows = {
            "received_at": np.array([_naive_utc(e.received_at) for e in entries], dtype="datetime64[us]"),
            "source": np.array([e.source for e in entries], dtype=object),
            "topic": np.array([e.topic for e in entries], dtype=object),
            "reason": np.array([e.reason for e in entries], dtype=object),
            "payload": np.array([bytes(e.payload) for e in entries], dtype=object),
        }
        with self._write_lock:
            cur = self._con.cursor()
            try:
                cur.register("batch_quarantine", rows)
                cur.execute(
                    "INSERT INTO quarantine SELECT received_at, source, topic, reason, payload::BLOB "
                    "FROM batch_quarantine"
                )
            finally:
                cur.close()

    def update_status(self, device: str, state: str, status_json: str, received_at: datetime) -> None:
        status = json.loads(status_json) if status_json else {}
        at = _naive_utc(received_at)
        with self._write_lock:
            self._con.cursor().execute(
                """INSERT INTO devices (id, kit, firmware, first_seen, last_seen, state, status)
                   VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (id) DO UPDATE SET
                       kit = coalesce(excluded.kit, devices.kit),
                       firmware = coalesce(excluded.firmware, devices.firmware),
                       last_seen = greatest(devices.last_seen, excluded.last_seen),
                       state = excluded.state, status = excluded.status""",
                [device, status.get("kit"), status.get("firmware"), at, at, state, status_json],
            )

    # -- reads ----------------------------------------------------------------------------------
    def devices(self) -> list[dict]:
        cur = self._con.cursor()
        try:
            rows = cur.execute(
                """SELECT d.id, d.kit, d.firmware, d.first_seen, d.last_seen, d.state,
                          (SELECT count(*) FROM raw_readings r WHERE r.device = d.id)
                   FROM devices d ORDER BY d.id"""
            ).fetchall()
        finally:
            cur.close()
        keys = ("id", "kit", "firmware", "first_seen", "last_seen", "state", "readings")
        return [dict(zip(keys, row)) for row in rows]

    def latest_values(self, device: str) -> dict[str, dict]:
        cur = self._con.cursor()
        try:
            rows = cur.execute(
                """SELECT quantity, arg_max(value, seq), max(time), arg_max(flags, seq)
                   FROM raw_values WHERE device = ?
                     AND time >= (SELECT max(time) - INTERVAL 1 DAY FROM raw_values WHERE device = ?)
                   GROUP BY quantity ORDER BY quantity""",
                [device, device],
            ).fetchall()
        finally:
            cur.close()
        return {q: {"value": v, "time": t, "flags": f.split(",") if f else []} for q, v, t, f in rows}

    def iter_readings(
        self,
        devices: Sequence[str],
        quantities: Sequence[str],
        start: datetime | None,
        end: datetime | None,
        chunk_rows: int = 10_000,
    ) -> Iterator[list[tuple]]:
        """Yield chunks of (time, device, quantity, value, seq, flags) ordered by device, quantity, time.

        Streams from DuckDB in chunks: the whole result is never held in memory.
        """
        where = ["device IN (SELECT unnest(?))", "quantity IN (SELECT unnest(?))"]
        params: list = [list(devices), list(quantities)]
        if start is not None:
            where.append("time >= ?")
            params.append(_naive_utc(start))
        if end is not None:
            where.append("time < ?")
            params.append(_naive_utc(end))
        sql = (
            "SELECT time, device, quantity, value, seq, flags FROM raw_values WHERE "
            + " AND ".join(where)
            + " ORDER BY device, quantity, time, seq"
        )
        cur = self._con.cursor()
        try:
            cur.execute(sql, params)
            while True:
                chunk = cur.fetchmany(chunk_rows)
                if not chunk:
                    break
                yield chunk
        finally:
            cur.close()

    # -- queries over either layer ---------------------------------------------------------------
    def hidden_periods(self, devices: Sequence[str] | None = None) -> list[tuple[str, datetime, datetime | None]]:
        """(device, start, end) periods public outputs leave out: publication pauses and deleted
        periods (store/registry.py keeps them; end None: still open). Empty without a registry."""
        cur = self._con.cursor()
        try:
            tables = {r[0] for r in cur.execute(
                "SELECT table_name FROM duckdb_tables() WHERE table_name IN ('publication_pauses', 'deleted_periods')"
            ).fetchall()}
            parts = [f"SELECT device, start_at, end_at FROM {t}" for t in sorted(tables)]
            if not parts:
                return []
            sql = f"SELECT * FROM ({' UNION ALL '.join(parts)})"
            params: list = []
            if devices is not None:
                sql += " WHERE device IN (SELECT unnest(?::VARCHAR[]))"
                params.append(list(devices))
            return cur.execute(sql + " ORDER BY 1, 2", params).fetchall()
        finally:
            cur.close()

    def _hidden_sql(self, devices: Sequence[str] | None) -> tuple[list[str], list]:
        where, params = [], []
        for device, start, end in self.hidden_periods(devices):
            if end is None:
                where.append("NOT (device = ? AND time >= ?)")
                params += [device, start]
            else:
                where.append("NOT (device = ? AND time >= ? AND time < ?)")
                params += [device, start, end]
        return where, params

    def selection_devices(self, sel: Selection) -> list[str]:
        """The device ids a selection covers (its ids, those whose public location is in its bbox)."""
        if sel.bbox is None:
            return sorted(set(sel.devices or ()))
        min_lon, min_lat, max_lon, max_lat = sel.bbox
        sql = ("SELECT device FROM device_sites WHERE public_lon BETWEEN ? AND ? AND public_lat BETWEEN ? AND ?")
        params: list = [min_lon, max_lon, min_lat, max_lat]
        if sel.devices is not None:
            sql += " AND device IN (SELECT unnest(?::VARCHAR[]))"
            params.append(list(sel.devices))
        cur = self._con.cursor()
        try:
            return sorted(r[0] for r in cur.execute(sql, params).fetchall())
        finally:
            cur.close()

    def _selection_sql(self, sel: Selection) -> tuple[str, str, list]:
        """(table, WHERE clause, parameters) for a selection, for public outputs: locations are
        public_* only, and the periods hosts keep private are left out."""
        table = "raw_values" if sel.layer == "raw" else "calibrated_values"
        where = ["quantity IN (SELECT unnest(?::VARCHAR[]))"]
        params: list = [list(sel.quantities)]
        if sel.devices is not None:
            where.append("device IN (SELECT unnest(?::VARCHAR[]))")
            params.append(list(sel.devices))
        if sel.bbox is not None:
            min_lon, min_lat, max_lon, max_lat = sel.bbox
            where.append(
                "device IN (SELECT device FROM device_sites WHERE public_lon BETWEEN ? AND ? "
                "AND public_lat BETWEEN ? AND ?)"
            )
            params += [min_lon, max_lon, min_lat, max_lat]
        if sel.start is not None:
            where.append("time >= ?")
            params.append(_naive_utc(sel.start))
        if sel.end is not None:
            where.append("time < ?")
            params.append(_naive_utc(sel.end))
        hidden, hidden_params = self._hidden_sql(sel.devices if sel.bbox is None else None)
        return table, " AND ".join(where + hidden), params + hidden_params

    _AGG_SQL = {
        "mean": "avg(value)",
        "min": "min(value)",
        "max": "max(value)",
        "median": "median(value)",
        "count": "count(value)::DOUBLE",
    }

    def readings_sql(self, sel: Selection, aggregation: Aggregation | None = None) -> tuple[str, list]:
        """The SQL of a readings query (also what the query benchmark runs directly)."""
        table, where, params = self._selection_sql(sel)
        if aggregation is not None:
            sql = (
                f"SELECT time_bucket(to_seconds(?::BIGINT), time) AS time, device, quantity, "
                f"{self._AGG_SQL[aggregation.agg]} AS value, count(value) AS count "
                f"FROM {table} WHERE {where} GROUP BY ALL ORDER BY device, quantity, time"
            )
            return sql, [aggregation.every_s] + params
        flags = "CASE WHEN flags IS NULL OR flags = '' THEN []::VARCHAR[] ELSE string_split(flags, ',') END"
        extra, order_extra = "", ""
        if sel.layer == "calibrated":
            extra, order_extra = ", model, model_version", ", model, model_version"
        sql = (
            f"SELECT time, device, quantity, value, seq, {flags} AS flags{extra} FROM {table} "
            f"WHERE {where} ORDER BY device, quantity, time, seq{order_extra}"
        )
        return sql, params

    def _stream(self, sql: str, params: list, chunk_rows: int) -> pa.RecordBatchReader:
        """Run a query and hand back its result as a reader of record batches, streamed.

        The query runs (and fails, for a bad query) here; rows are produced as the reader is read.
        The cursor closes when the reader is exhausted or dropped.
        """
        cur = self._con.cursor()
        try:
            source = cur.sql(sql, params=params).to_arrow_reader(chunk_rows)
        except BaseException:
            cur.close()
            raise

        def batches():
            try:
                for batch in source:
                    if batch.num_rows:
                        yield batch
            finally:
                cur.close()

        return pa.RecordBatchReader.from_batches(source.schema, batches())

    def reading_batches(
        self, selection: Selection, aggregation: Aggregation | None = None, chunk_rows: int = 65_536
    ) -> pa.RecordBatchReader:
        """Record batches ordered by device, quantity, time, streamed from DuckDB.

        Columns: time (UTC, naive), device, quantity, value, seq, flags (list of names), plus
        model and model_version for the calibrated layer; aggregated: time (window start), device,
        quantity, value (the statistic), count (values in the window).
        """
        sql, params = self.readings_sql(selection, aggregation)
        return self._stream(sql, params, chunk_rows)

    def stats_sql(self, sel: Selection, every_s: int | None = None, pooled: bool = False) -> tuple[str, list]:
        table, where, params = self._selection_sql(sel)
        stats = (
            "count(DISTINCT device) AS devices, count(value) AS count, avg(value) AS mean, "
            "min(value) AS min, max(value) AS max, median(value) AS median, "
            "stddev_samp(value) AS stddev, min(time) AS first, max(time) AS last"
        )
        device = "NULL::VARCHAR AS device" if pooled else "device"
        group = "quantity" if pooled else "device, quantity"
        if every_s is not None:
            window = "time_bucket(to_seconds(?::BIGINT), time)"
            sql = (
                f"SELECT w AS window_start, w + to_seconds(?::BIGINT) AS window_end, {device}, quantity, {stats} "
                f"FROM (SELECT {window} AS w, * FROM {table} WHERE {where}) "
                f"GROUP BY w, {group} ORDER BY {'' if pooled else 'device, '}quantity, w"
            )
            return sql, [every_s, every_s] + params
        sql = (
            f"SELECT ?::TIMESTAMP AS window_start, ?::TIMESTAMP AS window_end, {device}, quantity, {stats} "
            f"FROM {table} WHERE {where} GROUP BY {group} ORDER BY {'' if pooled else 'device, '}quantity"
        )
        return sql, [_naive_utc(sel.start), _naive_utc(sel.end)] + params

    def stats_batches(
        self, selection: Selection, every_s: int | None = None, pooled: bool = False, chunk_rows: int = 65_536
    ) -> pa.RecordBatchReader:
        """Descriptive statistics per device (or pooled over the device set) and quantity, per window.

        Columns: window_start, window_end (the requested range when no `every_s`), device (NULL when
        pooled), quantity, devices, count, mean, min, max, median, stddev (sample), first, last.
        """
        sql, params = self.stats_sql(selection, every_s, pooled)
        return self._stream(sql, params, chunk_rows)

    def day_batches(self, start: datetime, end: datetime, chunk_rows: int = 65_536) -> pa.RecordBatchReader:
        """Every public value of both layers in [start, end), for the open-data archive (the periods
        hosts keep private left out).

        Columns: device, kit, public_lat, public_lon, time, seq, quantity, layer, value, flags,
        model, model_version; ordered by device, time, seq, quantity, layer. The exact location
        (device_sites.lat/lon) is never selected.
        """
        sql = """
            WITH vals AS (
                SELECT device, seq, time, quantity, 'raw' AS layer, value, flags,
                       NULL::VARCHAR AS model, NULL::VARCHAR AS model_version
                FROM raw_values WHERE time >= ? AND time < ?
                UNION ALL
                SELECT device, seq, time, quantity, 'calibrated', value, flags, model, model_version
                FROM calibrated_values WHERE time >= ? AND time < ?
            )
            SELECT v.device, r.kit, s.public_lat, s.public_lon, v.time, v.seq, v.quantity, v.layer,
                   v.value, coalesce(v.flags, '') AS flags, v.model, v.model_version
            FROM (SELECT * FROM vals WHERE {hidden}) v
            LEFT JOIN raw_readings r USING (device, seq)
            LEFT JOIN device_sites s USING (device)
            ORDER BY v.device, v.time, v.seq, v.quantity, v.layer DESC, v.model, v.model_version
        """
        a, b = _naive_utc(start), _naive_utc(end)
        hidden, hidden_params = self._hidden_sql(None)
        sql = sql.replace("{hidden}", " AND ".join(hidden) or "true")
        return self._stream(sql, [a, b, a, b] + hidden_params, chunk_rows)

    def quarantined(self, limit: int = 100) -> list[dict]:
        cur = self._con.cursor()
        try:
            rows = cur.execute(
                "SELECT received_at, source, topic, reason, payload FROM quarantine "
                "ORDER BY received_at DESC LIMIT ?",
                [limit],
            ).fetchall()
        finally:
            cur.close()
        keys = ("received_at", "source", "topic", "reason", "payload")
        return [dict(zip(keys, row)) for row in rows]

    def close(self) -> None:
        with self._write_lock:
            self._con.close()
