"""Embedded default store: one DuckDB file under the data directory.

Two tables make the raw layer: `raw_readings` (one row per device and sequence number, with
provenance) and `raw_values` (one row per reading and quantity, with the firmware's flags). Bulk
inserts go through DuckDB's scan of numpy arrays; idempotence is an anti-join on (device, seq), so a
message delivered twice, or a batch repeating itself, stores each reading once.
"""
from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

import duckdb
import numpy as np

from .base import InsertResult, QuarantineEntry, ReadingBatch

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


def _naive_utc(t: datetime | None) -> datetime | None:
    if t is None or t.tzinfo is None:
        return t
    return t.astimezone(timezone.utc).replace(tzinfo=None)


class DuckDBStore:
    """The embedded store. Thread-safe: writes are serialised, reads use their own cursors."""

    FILENAME = "datacityzen.duckdb"

    def __init__(self, data_dir: str | Path):
        self.path = Path(data_dir) / self.FILENAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(str(self.path))
        self._write_lock = threading.Lock()
        self._con.execute(SCHEMA)

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
        with self._write_lock:
            cur = self._con.cursor()
            try:
                cur.register("batch_readings", readings)
                cur.register("batch_values", values)
                cur.execute("BEGIN TRANSACTION")
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
                cur.execute(
                    """INSERT INTO devices (id, kit, firmware, first_seen, last_seen, state)
                       SELECT device, arg_max(kit, received_at), arg_max(firmware, received_at),
                              min(received_at), max(received_at), 'online'
                       FROM batch_readings GROUP BY device
                       ON CONFLICT (id) DO UPDATE SET
                           kit = excluded.kit, firmware = excluded.firmware,
                           last_seen = greatest(devices.last_seen, excluded.last_seen)"""
                )
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()
        devices = tuple(sorted(set(batch.readings_device.tolist())))
        return InsertResult(stored=int(stored), duplicates=len(batch) - int(stored), devices=devices)

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
