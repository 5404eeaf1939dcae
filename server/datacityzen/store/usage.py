"""How often each device's data was downloaded or used: one row per device per download.

Public endpoints that hand out readings call `record_download(store, devices, dataset)`; the host view
shows the count so a host sees their kit is useful. Recording never fails the download: a write
error is logged (without the API key) and swallowed.
"""
from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timezone
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS usage_events (
    downloaded_at TIMESTAMP NOT NULL,
    device VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,       -- e.g. 'readings', 'archive', 'exhibition'
    api_key_hash VARCHAR            -- sha256 of the API key when one was given (never the key)
);
"""

def _ensure(store) -> None:
    if not getattr(store, "_usage_table_ready", False):
        with store._write_lock:
            store._con.cursor().execute(SCHEMA)
        store._usage_table_ready = True


def record_download(store, devices: Sequence[str], dataset: str, api_key: str | None = None) -> None:
    """Count one download of `dataset` for each device in `devices`."""
    devices = sorted(set(devices))
    if not devices:
        return
    try:
        _ensure(store)
        now = np.datetime64(datetime.now(timezone.utc).replace(tzinfo=None), "us")
        key_hash = hashlib.sha256(api_key.encode()).hexdigest() if api_key else None
        rows = {
            "downloaded_at": np.full(len(devices), now, dtype="datetime64[us]"),
            "device": np.array(devices, dtype=object),
            "dataset": np.full(len(devices), dataset, dtype=object),
            "api_key_hash": np.full(len(devices), key_hash, dtype=object),
        }
        with store._write_lock:
            cur = store._con.cursor()
            try:
                cur.register("usage_batch", rows)
                cur.execute("INSERT INTO usage_events SELECT downloaded_at, device, dataset, api_key_hash FROM usage_batch")
            finally:
                cur.close()
    except Exception as exc:  # a failed count must not fail the download
        log.warning("could not record a download of %s: %s", dataset, type(exc).__name__)


def public_download(store, devices: Sequence[str], chunks, dataset: str, api_key: str | None = None):
    """For public exports: count the download and leave out readings the hosts keep private
    (publication paused, periods deleted). `chunks` are lists of rows (time, device, ...), as
    `Store.iter_readings` yields them; returns the filtered chunks."""
    from .registry import Registry, without_hidden

    record_download(store, devices, dataset, api_key)
    return without_hidden(Registry.of(store).hidden_periods(devices), chunks)


def downloads(store, device: str) -> dict[str, int]:
    """dataset -> number of downloads that included the device."""
    _ensure(store)
    cur = store._con.cursor()
    try:
        rows = cur.execute("SELECT dataset, count(*) FROM usage_events WHERE device = ? GROUP BY dataset",
                           [device]).fetchall()
    finally:
        cur.close()
    return {d: int(n) for d, n in rows}
