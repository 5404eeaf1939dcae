"""The calibrated layer computed from raw rows: pure numpy, no database.

`compute(rows, calibrations, ...)` takes raw values as column arrays (as the store reads them) and
returns the calibrated rows: one per raw value, with the calibrated value (NaN where a flag excludes
it), the quality flags, and the model, version and calibration id that produced it. The same inputs
always give bit-identical outputs: this is what makes any past calibrated value reproducible from the
raw values and the model version.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..quality import drift as drift_mod
from ..quality import flags as F
from ..quality import point, spec, window
from .registry import BUILTIN, Model

IDENTITY = BUILTIN["none"]
NO_CALIBRATION = "none"  # calibration id of values no calibration covers
KIT_PREFIX = "kit:"  # a calibration for a kit batch names its device "kit:<kit id>"


@dataclass(frozen=True)
class Calibration:
    id: str
    device: str  # a device id, or "kit:<kit id>" for every device of that kit
    quantity: str
    model: Model
    valid_from: np.datetime64
    valid_to: np.datetime64 | None
    assigned_at: np.datetime64

    @property
    def specificity(self) -> int:
        return 0 if self.device.startswith(KIT_PREFIX) else 1


@dataclass(frozen=True)
class DriftSettings:
    radius_km: float = 5.0
    window_h: int = 72
    min_neighbours: int = 2


def is_particle(quantity: str) -> bool:
    return quantity.startswith(("pm", "pn_"))


def _companion(device, seq, quantity, value, name) -> np.ndarray:
    """For every row, the value of quantity `name` in the same reading (NaN when absent)."""
    lookup = {(d, s): v for d, s, q, v in zip(device, seq, quantity, value) if q == name}
    return np.array([lookup.get((d, s), np.nan) for d, s in zip(device, seq)], dtype=np.float64)


def _error_sensors(errors_text) -> set[str]:
    if not errors_text:
        return set()
    try:
        return {e.get("sensor") for e in json.loads(errors_text) if isinstance(e, dict)}
    except (ValueError, TypeError, AttributeError):
        return set()


def _groups(*keys) -> dict:
    """Row indices grouped by the tuple of keys, each group in the input order."""
    out: dict = {}
    for i, k in enumerate(zip(*keys)):
        out.setdefault(k, []).append(i)
    return {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}


def compute(rows: dict, calibrations: list[Calibration], *, with_window: bool = True,
            sites: dict | None = None, drift: DriftSettings = DriftSettings()) -> dict:
    """Calibrated rows for `rows` (dict of arrays: device, seq, time, quantity, value, flags, kit, errors).

    `sites` maps device -> (lat, lon) for the drift check (None: no drift check). Window flags need
    each series in full: pass rows with some context around the period you keep.
    """
    device = np.asarray(rows["device"], dtype=object)
    seq = np.asarray(rows["seq"], dtype=np.int64)
    time = np.asarray(rows["time"], dtype="datetime64[us]")
    quantity = np.asarray(rows["quantity"], dtype=object)
    raw = np.asarray(rows["value"], dtype=np.float64)
    kit = np.asarray(rows.get("kit", np.full(raw.size, None, dtype=object)), dtype=object)
    errors = np.asarray(rows.get("errors", np.full(raw.size, None, dtype=object)), dtype=object)
    n = raw.size
    row_flags: list[set[str]] = [set(F.split(f)) for f in rows.get("flags", [""] * n)]

    rh = _companion(device, seq, quantity, raw, "humidity")
    temperature = _companion(device, seq, quantity, raw, "temperature")

    # -- point flags ------------------------------------------------------------------------------
    for (k, q), idx in _groups(kit, quantity).items():
        low, high = spec.specified_range(k, q)
        for i in idx[point.out_of_range(raw[idx], low, high)]:
            row_flags[i].add(F.OUT_OF_RANGE)
        if is_particle(q):
            for i in idx[point.fog(rh[idx])]:
                row_flags[i].add(F.FOG)
    for i in range(n):
        if errors[i]:
            failed = _error_sensors(errors[i])
            if failed and spec.sensor_for(kit[i], quantity[i]) in failed:
                row_flags[i].add(F.SENSOR_ERROR)

    # -- calibrations: the most specific, latest-starting, latest-assigned one covering each row --------
    value = raw.copy()
    model_name = np.full(n, IDENTITY.kind, dtype=object)
    model_version = np.full(n, IDENTITY.version, dtype=object)
    calibration_id = np.full(n, NO_CALIBRATION, dtype=object)
    ordered = sorted(calibrations, key=lambda c: (c.specificity, c.valid_from, c.assigned_at, c.id))
    if ordered:
        chosen = np.full(n, -1, dtype=np.int64)
        for ci, c in enumerate(ordered):
            target = kit == c.device[len(KIT_PREFIX):] if c.specificity == 0 else device == c.device
            covered = target & (quantity == c.quantity) & (time >= c.valid_from)
            if c.valid_to is not None:
                covered &= time < c.valid_to
            chosen[covered] = ci
        for ci in np.unique(chosen[chosen >= 0]):
            c = ordered[ci]
            idx = np.flatnonzero(chosen == ci)
            out = c.model.apply(raw[idx], rh[idx], temperature[idx])
            value[idx] = out
            model_name[idx] = c.model.kind
            model_version[idx] = c.model.version
            calibration_id[idx] = c.id
            for i in idx[~np.isfinite(out)]:
                row_flags[i].add(F.NO_CALIBRATION_INPUT)

    # -- window flags per device and quantity series ----------------------------------------------------
    if with_window:
        for (d, q), idx in _groups(device, quantity).items():
            idx = idx[np.lexsort((seq[idx], time[idx]))]
            t, v = time[idx], raw[idx]
            masks = {
                F.STUCK: window.stuck(t, v),
                F.SPIKE: window.spike(v, min_abs=window.spike_min_abs(q)),
            }
            restart = window.after_silence(t)
            masks[F.AFTER_SILENCE] = restart
            masks[F.WARMUP] = window.warmup_after_silence(t, restart, spec.warmup_s(kit[idx[0]], q))
            for name, mask in masks.items():
                for i in idx[mask]:
                    row_flags[i].add(name)
        if sites:
            _drift_flags(device, time, quantity, value, row_flags, sites, drift)

    flags_text = np.array([F.join(f) for f in row_flags], dtype=object)
    excluded = np.array([F.excluded(f) for f in row_flags], dtype=bool)
    value[excluded] = np.nan
    return {
        "device": device, "seq": seq, "time": time, "quantity": quantity, "value": value,
        "flags": flags_text, "model": model_name, "model_version": model_version,
        "calibration": calibration_id,
    }


def _drift_flags(device, time, quantity, value, row_flags, sites, settings: DriftSettings) -> None:
    hour = time.astype("datetime64[h]")
    usable = np.array([not F.excluded(f) for f in row_flags], dtype=bool) & np.isfinite(value)
    for q in np.unique(quantity):
        abs_tol, rel_tol = drift_mod.tolerance(q)
        if not np.isfinite(abs_tol):
            continue
        in_q = quantity == q
        devs = sorted(d for d in set(device[in_q]) if d in sites)
        if len(devs) < settings.min_neighbours + 1:
            continue
        hours = np.unique(hour[in_q])
        h0, nh = hours[0], int((hours[-1] - hours[0]).astype(np.int64)) + 1
        grid = np.full((len(devs), nh), np.nan)
        for di, d in enumerate(devs):
            sel = in_q & usable & (device == d)
            if not sel.any():
                continue
            col = (hour[sel] - h0).astype(np.int64)
            sums = np.bincount(col, weights=value[sel], minlength=nh)
            counts = np.bincount(col, minlength=nh)
            with np.errstate(invalid="ignore", divide="ignore"):
                grid[di] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        lat = np.array([sites[d][0] for d in devs], dtype=np.float64)
        lon = np.array([sites[d][1] for d in devs], dtype=np.float64)
        near = drift_mod.neighbours_within(lat, lon, settings.radius_km)
        flagged = drift_mod.drift(grid, near, abs_tol, rel_tol, settings.window_h, settings.min_neighbours)
        for di, d in enumerate(devs):
            if not flagged[di].any():
                continue
            sel = np.flatnonzero(in_q & (device == d))
            cols = (hour[sel] - h0).astype(np.int64)
            for i in sel[flagged[di][cols]]:
                row_flags[i].add(F.DRIFT)
