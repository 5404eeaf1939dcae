"""What each device last reported about itself while online: its status counters and the downlink
config revision it applied (its acknowledgement, docs/wire-format.md).

`devices.status` holds the latest status, which is the broker's "offline" last will once a device
goes away; this table keeps the last *online* report, so the applied config and the spool's counters
(pending, dropped) are still known while the device is offline. Uses the DuckDB store's connection
and write lock; a table of its own rather than more columns in duckdb_store.py.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

SCHEMA = """
CREATE TABLE IF NOT EXISTS device_reports (
    device VARCHAR PRIMARY KEY,
    received_at TIMESTAMP NOT NULL,
    config_rev BIGINT,          -- the downlink config "rev" the device applied, NULL: none yet
    config_rejected VARCHAR,    -- {"rev", "error"} of a downlink config it refused, JSON
    spool_pending BIGINT,
    spool_dropped BIGINT,
    status VARCHAR NOT NULL     -- the whole status message, JSON
);
"""


def _int(v):
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _ensure(store) -> None:
    if not getattr(store, "_device_reports_ready", False):
        with store._write_lock:
            store._con.execute(SCHEMA)
        store._device_reports_ready = True


def supported(store) -> bool:
    return hasattr(store, "_con") and hasattr(store, "_write_lock")


def record(store, device: str, status: dict, received_at: datetime) -> None:
    """Keep an online status (the previous config_rev stays when this one carries none)."""
    _ensure(store)
    at = received_at.astimezone(timezone.utc).replace(tzinfo=None) if received_at.tzinfo else received_at
    rejected = status.get("config_rejected")
    with store._write_lock:
        store._con.cursor().execute(
            """INSERT INTO device_reports VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (device) DO UPDATE SET
                   received_at = excluded.received_at,
                   config_rev = coalesce(excluded.config_rev, device_reports.config_rev),
                   config_rejected = excluded.config_rejected,
                   spool_pending = excluded.spool_pending, spool_dropped = excluded.spool_dropped,
                   status = excluded.status""",
            [device, at, _int(status.get("config_rev")),
             json.dumps(rejected) if isinstance(rejected, dict) else None,
             _int(status.get("spool_pending")), _int(status.get("spool_dropped")), json.dumps(status)],
        )


def get(store, device: str) -> dict | None:
    _ensure(store)
    cur = store._con.cursor()
    try:
        row = cur.execute(
            "SELECT received_at, config_rev, config_rejected, spool_pending, spool_dropped, status "
            "FROM device_reports WHERE device = ?", [device]).fetchone()
    finally:
        cur.close()
    if row is None:
        return None
    keys = ("received_at", "config_rev", "config_rejected", "spool_pending", "spool_dropped", "status")
    out = dict(zip(keys, row))
    out["status"] = json.loads(out["status"])
    out["config_rejected"] = json.loads(out["config_rejected"]) if out["config_rejected"] else None
    return out
