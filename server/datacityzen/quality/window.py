"""Flags that need a series: stuck, spike, silence and warm-up after a silence.

Every function takes one device's series of one quantity, sorted by time: `times` as numpy
datetime64 (any unit) or seconds, `values` as floats. It returns a boolean mask of the same length.
The thresholds are the project's choices (there is no standard for them); each default is explained
next to it and can be overridden per quantity (see THRESHOLDS).
"""
from __future__ import annotations

import warnings

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# 1.4826 makes the median absolute deviation a consistent estimator of the standard deviation for
# normally distributed data (Rousseeuw and Croux 1993, JASA 88:1273); the Hampel identifier flags
# points more than n scaled MADs from the window median (Hampel 1974, JASA 69:383; Pearson 2002,
# IEEE Trans. Control Syst. Technol. 10:55).
MAD_TO_SIGMA = 1.4826

# Per-quantity defaults. stuck_min_abs_s: how long a value must repeat exactly before it is "stuck";
# spike_min_abs: the smallest jump called a spike, so quiet series (tiny MAD) do not flag noise.
THRESHOLDS = {
    "pm": {"spike_min_abs": 25.0},
    "temperature": {"spike_min_abs": 5.0},
    "humidity": {"spike_min_abs": 20.0},
    "pressure": {"spike_min_abs": 5.0},
    "noise": {"spike_min_abs": 20.0},
}
DEFAULT_SPIKE_MIN_ABS = 25.0


def spike_min_abs(quantity: str) -> float:
    family = "pm" if quantity.startswith(("pm", "pn_")) else quantity.split("_")[0]
    return THRESHOLDS.get(family, {}).get("spike_min_abs", DEFAULT_SPIKE_MIN_ABS)


def seconds(times) -> np.ndarray:
    t = np.asarray(times)
    if np.issubdtype(t.dtype, np.datetime64):
        return (t - np.datetime64(0, "s")) / np.timedelta64(1, "s")
    return t.astype(np.float64)


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) indices of runs of exactly equal consecutive values."""
    n = values.size
    if n == 0:
        return np.empty(0, int), np.empty(0, int)
    change = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [n]))
    return starts, ends


def stuck(times, values, min_count: int = 10, min_duration_s: float = 3600.0) -> np.ndarray:
    """True on runs of an identical value at least `min_count` readings and `min_duration_s` long.

    A real sensor's averaged reading moves a little from one interval to the next; an unchanging value
    for an hour of readings is a frozen driver, a disconnected chip returning its last buffer, or a
    saturated sensor. Both conditions must hold, so a fast-sampling kit is not flagged after a few
    seconds and a slow one not after a few readings.
    """
    v = np.asarray(values, dtype=np.float64)
    t = seconds(times)
    out = np.zeros(v.size, dtype=bool)
    starts, ends = _runs(v)
    for s, e in zip(starts, ends):
        if e - s >= min_count and t[e - 1] - t[s] >= min_duration_s and np.isfinite(v[s]):
            out[s:e] = True
    return out


def spike(values, half_window: int = 3, n_sigma: float = 6.0, min_abs: float = DEFAULT_SPIKE_MIN_ABS) -> np.ndarray:
    """Hampel identifier: True where a value is more than `n_sigma` scaled MADs and more than
    `min_abs` away from the median of the 2·half_window+1 readings around it.

    With n_sigma = 6 and a 7-reading window only an isolated jump is flagged: a pollution episode
    lasting several readings moves the window median with it.
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    if n < 2 * half_window + 1:
        return np.zeros(n, dtype=bool)
    padded = np.concatenate((np.full(half_window, np.nan), v, np.full(half_window, np.nan)))
    windows = sliding_window_view(padded, 2 * half_window + 1)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(windows, axis=1)
        mad = np.nanmedian(np.abs(windows - med[:, None]), axis=1)
    dev = np.abs(v - med)
    with np.errstate(invalid="ignore"):
        return (dev > n_sigma * MAD_TO_SIGMA * mad) & (dev > min_abs)


def typical_interval(times) -> float | None:
    """The median spacing of the readings in seconds (None with fewer than 2 readings)."""
    t = seconds(times)
    if t.size < 2:
        return None
    return float(np.median(np.diff(t)))


def after_silence(times, interval_s: float | None = None, n_intervals: float = 3.0) -> np.ndarray:
    """True on the first reading after a gap longer than `n_intervals` reading intervals.

    `interval_s` defaults to the series' median spacing (the kit's sampling interval in practice).
    """
    t = seconds(times)
    out = np.zeros(t.size, dtype=bool)
    if t.size < 2:
        return out
    step = interval_s if interval_s else typical_interval(t)
    if not step or step <= 0:
        return out
    out[1:] = np.diff(t) > n_intervals * step
    return out


def silent_since(last_time, now, interval_s: float, n_intervals: float = 3.0) -> bool:
    """Whether a device whose last reading is `last_time` is silent at `now` (no data for N intervals)."""
    return float(seconds(np.asarray([now]))[0] - seconds(np.asarray([last_time]))[0]) > n_intervals * interval_s


def warmup_after_silence(times, restart: np.ndarray, warmup_s: float) -> np.ndarray:
    """True on readings less than `warmup_s` after a restart (a reading flagged after_silence).

    A gap in reading times means the kit was not measuring (readings buffered offline keep their
    times), so the reading after it is the first after power-up, when a PM fan or a heated sensor has
    not settled yet (SDS011: 30 s, kits/sensors.json).
    """
    t = seconds(times)
    out = np.zeros(t.size, dtype=bool)
    if warmup_s <= 0 or t.size == 0:
        return out
    starts = np.flatnonzero(np.asarray(restart, dtype=bool))
    for s in starts:
        out[s:] |= t[s:] - t[s] < warmup_s
    return out
