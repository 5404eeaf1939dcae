"""The calibrated layer in DuckDB: the `calibrations` and `calibrated_values` tables.

Uses the DuckDBStore's connection and write lock. The computation itself is pure numpy
(datacityzen.calibration.layer); this module reads raw rows, hands them over and writes the result.
raw_values are only ever read here.

- `on_insert(batch)`: after the raw insert, the calibrated rows of the readings that are new
  (point flags only: range, fog, device errors, calibration). Idempotent (anti-join).
- `recompute(devices, start, end)`: delete and rewrite the calibrated rows of a period, window flags
  (stuck, spike, silence, warm-up, drift) included. `assign` and the periodic `refresh` use it.
- `assign(device, model, valid_from, valid_to)`: store a calibration, then recompute its period.
"""
from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timedelta, timezone

import numpy as np

from ..calibration import layer
from ..calibration.registry import Model, ModelError, from_dict
from .base import ReadingBatch
from .duckdb_store import in_transaction

log = logging.getLogger(__name__)

# Context read around a recomputed period so window flags see whole series: drift uses a trailing
# window of days, stuck runs and spikes need readings on both sides.
CONTEXT_BEFORE = timedelta(days=3)
CONTEXT_AFTER = timedelta(hours=6)

_RAW_SELECT = """
    SELECT v.device, v.seq, v.time, v.quantity, v.value, coalesce(v.flags, '') AS flags, r.kit, r.errors
    FROM raw_values v JOIN raw_readings r USING (device, seq)
"""


class StoreLocked(RuntimeError):
    """The DuckDB file is held by another process (a running server)."""


def _naive_utc(t: datetime | None) -> datetime | None:
    if t is None or t.tzinfo is None:
        return t
    return t.astimezone(timezone.utc).replace(tzinfo=None)


def _dt64(t: datetime | None):
    return None if t is None else np.datetime64(_naive_utc(t), "us")


def open_store(data_dir):
    """A DuckDBStore on `data_dir`, or StoreLocked with a clear message when a server holds it."""
    import duckdb

    from .duckdb_store import DuckDBStore

    try:
        return DuckDBStore(data_dir)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise StoreLocked(
                f"the database in {data_dir} is in use by a running server (DuckDB allows one writer): "
                "stop the server, or assign through its admin API / la base de données est utilisée par "
                "un serveur en cours d'exécution : arrêtez-le, ou passez par son API d'administration"
            ) from None
        raise


class CalibratedLayer:
    def __init__(self, store, drift: layer.DriftSettings = layer.DriftSettings()):
        self.store = store
        self._con = store._con
        self._lock = store._write_lock
        self.drift = drift

    # -- calibrations ------------------------------------------------------------------------------
    def calibrations(self, cur=None, devices=None) -> list[layer.Calibration]:
        own = cur is None
        cur = cur or self._con.cursor()
        try:
            sql = ("SELECT id, device, quantity, params, valid_from, valid_to, assigned_at FROM calibrations")
            params = []
            if devices is not None:
                sql += " WHERE device IN (SELECT unnest(?)) OR device LIKE 'kit:%'"
                params.append(list(devices))
            rows = cur.execute(sql + " ORDER BY id", params).fetchall()
        finally:
            if own:
                cur.close()
        out = []
        for cid, device, quantity, params_json, vf, vt, at in rows:
            out.append(layer.Calibration(
                id=cid, device=device, quantity=quantity, model=from_dict(json.loads(params_json)),
                valid_from=_dt64(vf), valid_to=_dt64(vt), assigned_at=_dt64(at)))
        return out

    def list_calibrations(self) -> list[dict]:
        cur = self._con.cursor()
        try:
            rows = cur.execute(
                "SELECT id, device, quantity, model, model_version, valid_from, valid_to, assigned_at "
                "FROM calibrations ORDER BY id").fetchall()
        finally:
            cur.close()
        keys = ("id", "device", "quantity", "model", "model_version", "valid_from", "valid_to", "assigned_at")
        return [dict(zip(keys, r)) for r in rows]

    def assign(self, device: str, model: Model, valid_from: datetime, valid_to: datetime | None = None,
               quantity: str | None = None, assigned_at: datetime | None = None) -> dict:
        """Store a calibration of `device` (or "kit:<kit>") and recompute the calibrated layer it covers."""
        quantity = quantity or model.quantity
        if not quantity or quantity == "*":
            raise ModelError(f"model {model.kind} corrects any quantity: say which one (--quantity)")
        if model.quantity not in ("*", quantity):
            raise ModelError(f"model {model.kind} {model.version} corrects {model.quantity}, not {quantity}")
        if valid_to is not None and _naive_utc(valid_to) <= _naive_utc(valid_from):
            raise ModelError("the end of the validity period must come after its start")
        assigned_at = _naive_utc(assigned_at or datetime.now(timezone.utc))
        with self._lock:
            cur = self._con.cursor()
            try:
                n = cur.execute("SELECT count(*) FROM calibrations").fetchone()[0]
                cid = f"cal-{n + 1:04d}"
                cur.execute(
                    "INSERT INTO calibrations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [cid, device, quantity, model.kind, model.version, model.params_json(),
                     _naive_utc(valid_from), _naive_utc(valid_to), assigned_at])
            finally:
                cur.close()
        devices = None if device.startswith(layer.KIT_PREFIX) else [device]
        rows = self.recompute(devices, valid_from, valid_to)
        return {"id": cid, "device": device, "quantity": quantity, "model": model.kind,
                "model_version": model.version, "rows": rows}

    # -- computing ---------------------------------------------------------------------------------
    def _sites(self, cur) -> dict:
        # Public (snapped) locations are precise enough for "within a few km" and keep the exact
        # location out of this computation altogether.
        rows = cur.execute(
            "SELECT device, public_lat, public_lon FROM device_sites "
            "WHERE public_lat IS NOT NULL AND public_lon IS NOT NULL").fetchall()
        return {d: (lat, lon) for d, lat, lon in rows}

    @staticmethod
    def _frame(rows) -> dict:
        cols = list(zip(*rows)) if rows else [()] * 8
        return {
            "device": np.array(cols[0], dtype=object),
            "seq": np.array(cols[1], dtype=np.int64),
            "time": np.array(cols[2], dtype="datetime64[us]"),
            "quantity": np.array(cols[3], dtype=object),
            "value": np.array(cols[4], dtype=np.float64),
            "flags": np.array(cols[5], dtype=object),
            "kit": np.array(cols[6], dtype=object),
            "errors": np.array(cols[7], dtype=object),
        }

    @staticmethod
    def _write(cur, out: dict, keep: np.ndarray) -> int:
        batch = {k: v[keep] for k, v in out.items()}
        if batch["seq"].size == 0:
            return 0
        value = batch["value"]
        batch["value"] = np.where(np.isfinite(value), value, np.nan)
        cur.register("calibrated_batch", batch)
        cur.execute(
            "INSERT INTO calibrated_values SELECT device, seq, time, quantity, "
            "CASE WHEN isnan(value) THEN NULL ELSE value END, flags, model, model_version, calibration "
            "FROM calibrated_batch")
        cur.unregister("calibrated_batch")
        return int(batch["seq"].size)

    def on_insert(self, batch: ReadingBatch) -> int:
        """Calibrated rows (point flags) for the readings of `batch` not yet in the calibrated layer."""
        if len(batch) == 0:
            return 0
        keys = {"device": batch.readings_device, "seq": batch.readings_seq}
        # The time bounds let DuckDB skip row groups (zone maps) instead of scanning whole tables.
        t0 = batch.readings_time.min().astype(datetime)
        t1 = batch.readings_time.max().astype(datetime)
        with self._lock:
            cur = self._con.cursor()
            try:
                cur.register("new_reading_keys", keys)
                rows = cur.execute(
                    """WITH k AS (SELECT DISTINCT device, seq FROM new_reading_keys),
                            done AS (SELECT device, seq, quantity FROM calibrated_values
                                     WHERE time BETWEEN ? AND ? AND device IN (SELECT device FROM k))
                       SELECT v.device, v.seq, v.time, v.quantity, v.value, coalesce(v.flags, ''),
                              r.kit, r.errors
                       FROM raw_values v
                       JOIN raw_readings r ON r.device = v.device AND r.seq = v.seq
                       SEMI JOIN k ON k.device = v.device AND k.seq = v.seq
                       ANTI JOIN done ON done.device = v.device AND done.seq = v.seq
                                     AND done.quantity = v.quantity
                       WHERE v.time BETWEEN ? AND ? AND r.time BETWEEN ? AND ?
                       ORDER BY v.device, v.quantity, v.time, v.seq""",
                    [t0, t1, t0, t1, t0, t1]).fetchall()
                cur.unregister("new_reading_keys")
                if not rows:
                    return 0
                frame = self._frame(rows)
                cals = self.calibrations(cur, sorted(set(frame["device"])))
                out = layer.compute(frame, cals, with_window=False)
                with in_transaction(cur):
                    written = self._write(cur, out, np.ones(out["seq"].size, dtype=bool))
                    # The store's calibrated hooks (the time-series mirror's outbox) see the new rows
                    # in this transaction (store/duckdb_store.py; `batch_calibrated`).
                    hooks = getattr(self.store, "calibrated_hooks", ())
                    if written and hooks:
                        cur.register("batch_calibrated", out)
                        for hook in hooks:
                            hook(cur)
                        cur.unregister("batch_calibrated")
                return written
            finally:
                cur.close()

    def recompute(self, devices=None, start: datetime | None = None, end: datetime | None = None) -> int:
        """Rewrite the calibrated rows of `devices` (None: all) with times in [start, end)."""
        start, end = _naive_utc(start), _naive_utc(end)
        where, params = [], []
        if devices is not None:
            where.append("v.device IN (SELECT unnest(?))")
            params.append(list(devices))
        if start is not None:
            where.append("v.time >= ?")
            params.append(start - CONTEXT_BEFORE)
        if end is not None:
            where.append("v.time < ?")
            params.append(end + CONTEXT_AFTER)
        sql = _RAW_SELECT + (" WHERE " + " AND ".join(where) if where else "") + \
            " ORDER BY v.device, v.quantity, v.time, v.seq"
        with self._lock:
            cur = self._con.cursor()
            try:
                sites = self._sites(cur)
                rows = cur.execute(sql, params).fetchall()
                # Drift needs the neighbours' series too: read the devices near those recomputed.
                if devices is not None and sites:
                    extra = self._neighbour_devices(devices, sites)
                    if extra:
                        rows += cur.execute(sql, [sorted(extra)] + params[1:]).fetchall()
                frame = self._frame(rows)
                cals = self.calibrations(cur)
                out = layer.compute(frame, cals, with_window=True, sites=sites, drift=self.drift)
                t = out["time"]
                keep = np.ones(t.size, dtype=bool)
                if devices is not None:
                    keep &= np.isin(out["device"], np.array(list(devices), dtype=object))
                if start is not None:
                    keep &= t >= np.datetime64(start, "us")
                if end is not None:
                    keep &= t < np.datetime64(end, "us")
                dwhere, dparams = [], []
                if devices is not None:
                    dwhere.append("device IN (SELECT unnest(?))")
                    dparams.append(list(devices))
                if start is not None:
                    dwhere.append("time >= ?")
                    dparams.append(start)
                if end is not None:
                    dwhere.append("time < ?")
                    dparams.append(end)
                with in_transaction(cur):
                    cur.execute("DELETE FROM calibrated_values" +
                                (" WHERE " + " AND ".join(dwhere) if dwhere else ""), dparams)
                    written = self._write(cur, out, keep)
                return written
            finally:
                cur.close()

    def _neighbour_devices(self, devices, sites) -> set[str]:
        from ..quality.drift import distances_km

        names = sorted(sites)
        lat = np.array([sites[d][0] for d in names])
        lon = np.array([sites[d][1] for d in names])
        d = distances_km(lat, lon)
        wanted = {i for i, n in enumerate(names) if n in set(devices)}
        near = set()
        for i in wanted:
            near |= {names[j] for j in np.flatnonzero(d[i] <= self.drift.radius_km)}
        return near - set(devices)

    def refresh(self, lookback: timedelta = timedelta(days=1), now: datetime | None = None) -> int:
        """The periodic job: recompute (window flags included) the last `lookback` of every device,
        reaching back further where readings arrived late (a kit replaying its offline spool)."""
        now = _naive_utc(now or datetime.now(timezone.utc))
        start = now - lookback
        cur = self._con.cursor()
        try:
            oldest = cur.execute("SELECT min(time) FROM raw_readings WHERE received_at >= ?",
                                 [start]).fetchone()[0]
        finally:
            cur.close()
        if oldest is not None and oldest < start:
            start = oldest
        return self.recompute(None, start, None)

    def read(self, device: str, quantity: str | None = None) -> list[tuple]:
        """(seq, time, quantity, value, flags, model, model_version, calibration) of one device."""
        cur = self._con.cursor()
        try:
            sql = ("SELECT seq, time, quantity, value, flags, model, model_version, calibration "
                   "FROM calibrated_values WHERE device = ?")
            params = [device]
            if quantity:
                sql += " AND quantity = ?"
                params.append(quantity)
            return cur.execute(sql + " ORDER BY quantity, time, seq", params).fetchall()
        finally:
            cur.close()


def ingest_hook(store):
    """The callable the ingest pipeline runs after each raw insert, or None for stores without the layer."""
    if not hasattr(store, "_con") or not hasattr(store, "_write_lock"):
        return None
    calibrated = CalibratedLayer(store)

    def after_insert(batch: ReadingBatch) -> None:
        try:
            calibrated.on_insert(batch)
        except Exception:  # the raw values are committed; the periodic refresh fills the gap
            log.exception("calibrated layer: could not compute the new readings; the next refresh will")

    return after_insert


class RefreshThread:
    """Runs CalibratedLayer.refresh every `interval_s` seconds in the background (used by serve)."""

    def __init__(self, store, interval_s: float = 300.0, lookback: timedelta = timedelta(days=1)):
        self.layer = CalibratedLayer(store)
        self.interval_s = interval_s
        self.lookback = lookback
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="calibrated-refresh", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.layer.refresh(self.lookback)
            except Exception:
                log.exception("calibrated layer: periodic refresh failed")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
