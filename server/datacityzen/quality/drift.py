"""Drift against neighbours: a device that disagrees for days with the median of devices nearby.

Input is an hourly grid: one row per device, one column per hour, NaN where a device has no value.
Neighbours are devices within `radius_km` (haversine on the WGS84 mean radius). For each device and
hour, the reference is the median of its neighbours' hourly values (at least `min_neighbours` with
data that hour); the device's offset is its value minus that median. Over a trailing window of
`window_h` hours the median offset is taken; when it exceeds max(abs_tol, rel_tol × the neighbours'
median level) the device is flagged for that hour. Pure numpy; no I/O.
"""
from __future__ import annotations

import warnings

import numpy as np

# Mean Earth radius R1 = 6371.0088 km (IUGG; Moritz 2000, Geodetic Reference System 1980).
EARTH_RADIUS_KM = 6371.0088

# Per-quantity tolerances (project choice): about twice the stated accuracy of the kit's sensors, so a
# sound sensor is not flagged. SDS011 ±15 % / ±10 µg/m³ (datasheet V1.3), BME280 ±1 °C, ±3 % RH, ±1 hPa
# (datasheet BST-BME280-DS002, table 1).
TOLERANCES = {
    "pm": (5.0, 0.5),
    "temperature": (2.0, 0.0),
    "humidity": (10.0, 0.0),
    "pressure": (2.0, 0.0),
    "noise": (6.0, 0.0),
}


def tolerance(quantity: str) -> tuple[float, float]:
    family = "pm" if quantity.startswith(("pm", "pn_")) else quantity.split("_")[0]
    return TOLERANCES.get(family, (np.inf, 0.0))


def distances_km(lat, lon) -> np.ndarray:
    """Pairwise great-circle distances (haversine), a square matrix."""
    la = np.radians(np.asarray(lat, dtype=np.float64))
    lo = np.radians(np.asarray(lon, dtype=np.float64))
    dlat = la[:, None] - la[None, :]
    dlon = lo[:, None] - lo[None, :]
    a = np.sin(dlat / 2) ** 2 + np.cos(la[:, None]) * np.cos(la[None, :]) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def neighbours_within(lat, lon, radius_km: float) -> np.ndarray:
    """Boolean matrix: j is a neighbour of i (within radius_km, i != j, both located)."""
    d = distances_km(lat, lon)
    near = d <= radius_km
    np.fill_diagonal(near, False)
    return near & np.isfinite(d)


def drift(hourly: np.ndarray, neighbours: np.ndarray, abs_tol: float, rel_tol: float = 0.0,
          window_h: int = 72, min_neighbours: int = 2, min_coverage: float = 0.5) -> np.ndarray:
    """Boolean (devices × hours): the device's trailing-window median offset exceeds the tolerance."""
    x = np.asarray(hourly, dtype=np.float64)
    n_dev, n_h = x.shape
    out = np.zeros((n_dev, n_h), dtype=bool)
    if n_dev < min_neighbours + 1 or n_h == 0:
        return out
    for i in range(n_dev):
        nb = x[np.asarray(neighbours[i], dtype=bool)]
        if nb.shape[0] < min_neighbours:
            continue
        count = np.isfinite(nb).sum(axis=0)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = np.nanmedian(nb, axis=0)
        ref[count < min_neighbours] = np.nan
        offset = x[i] - ref
        for h in range(n_h):
            lo = max(0, h - window_h + 1)
            win = offset[lo:h + 1]
            ok = np.isfinite(win)
            if ok.sum() < min_coverage * window_h:
                continue
            med = float(np.median(win[ok]))
            level = float(np.median(np.abs(ref[lo:h + 1][ok])))
            if abs(med) > max(abs_tol, rel_tol * level):
                out[i, h] = True
    return out
