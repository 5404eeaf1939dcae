"""Quality flags fire on synthetic faults and stay quiet on clean data."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datacityzen.quality import drift, point, spec, window

INTERVAL = 145  # s, the air-outdoor-v1 kit's sampling interval


def clean_day(seed=1, n=600):
    """A plausible day of PM2.5 every 145 s: a diurnal cycle, slow weather, sensor noise."""
    rng = np.random.default_rng(seed)
    t = np.datetime64("2026-11-23T00:00:00") + (np.arange(n) * INTERVAL).astype("timedelta64[s]")
    hours = np.arange(n) * INTERVAL / 3600
    pm = 12 + 6 * np.sin(2 * np.pi * (hours - 8) / 24) + np.cumsum(rng.normal(0, 0.15, n)) + rng.normal(0, 0.8, n)
    return t, np.round(np.clip(pm, 0.5, None), 1)


def test_clean_series_raise_no_window_flag():
    for seed in range(5):
        t, v = clean_day(seed)
        assert not window.stuck(t, v).any()
        assert not window.spike(v, min_abs=window.spike_min_abs("pm2_5")).any()
        assert not window.after_silence(t).any()


def test_stuck_fires_on_a_frozen_value_and_only_there():
    t, v = clean_day()
    v[100:140] = 17.3  # 40 readings, 94 minutes
    mask = window.stuck(t, v)
    assert mask[100:140].all() and mask.sum() == 40


def test_a_short_repeat_is_not_stuck():
    t, v = clean_day()
    v[100:105] = 17.3
    assert not window.stuck(t, v).any()


def test_spike_fires_on_an_isolated_jump_not_on_an_episode():
    t, v = clean_day()
    v[300] += 150
    v[400:412] += 80  # a real pollution episode lasting half an hour
    mask = window.spike(v, min_abs=window.spike_min_abs("pm2_5"))
    assert mask[300] and mask.sum() == 1


def test_silence_flags_the_first_reading_after_a_gap_and_warmup_follows():
    t, v = clean_day()
    keep = np.ones(t.size, dtype=bool)
    keep[200:230] = False  # 72 minutes without data
    t2 = t[keep]
    restart = window.after_silence(t2)
    assert np.flatnonzero(restart).tolist() == [200]
    warm = window.warmup_after_silence(t2, restart, spec.warmup_s("air-outdoor-v1", "pm2_5"))
    assert np.flatnonzero(warm).tolist() == [200]  # 30 s: only the first reading
    warm_long = window.warmup_after_silence(t2, restart, 300)
    assert np.flatnonzero(warm_long).tolist() == [200, 201, 202]


def test_silent_since():
    last = np.datetime64("2026-11-23T10:00:00")
    assert not window.silent_since(last, last + np.timedelta64(400, "s"), INTERVAL)
    assert window.silent_since(last, last + np.timedelta64(436, "s"), INTERVAL)


def test_fog_threshold_is_75_percent():
    assert point.fog(np.array([74.9, 75.0, 75.1, 99.0, np.nan])).tolist() == [False, False, True, True, False]


def test_out_of_range_uses_the_sensor_spec():
    low, high = spec.specified_range("air-outdoor-v1", "pm2_5")
    assert (low, high) == (0.0, 999.9)  # SDS011 datasheet V1.3
    assert point.out_of_range(np.array([-0.1, 0, 500, 999.9, 1000.0]), low, high).tolist() == \
        [True, False, False, False, True]
    assert spec.specified_range("air-outdoor-v1", "temperature") == (-40.0, 85.0)  # BME280


def _hourly_network(n_hours=24 * 6, offset_device=None, offset=0.0, seed=3):
    rng = np.random.default_rng(seed)
    h = np.arange(n_hours)
    regional = 15 + 8 * np.sin(2 * np.pi * h / 24) + 3 * np.sin(2 * np.pi * h / (24 * 5))
    grid = regional + rng.normal(0, 1.0, (5, n_hours))
    if offset_device is not None:
        grid[offset_device, 48:] += offset
    return grid


SITES = (np.array([44.837, 44.842, 44.83, 44.85, 45.5]), np.array([-0.579, -0.57, -0.59, -0.56, -0.2]))


def test_drift_quiet_on_an_agreeing_network():
    near = drift.neighbours_within(*SITES, radius_km=5)
    assert near[:4, :4].sum() == 12 and not near[4].any()  # the fifth device is ~70 km away
    flags = drift.drift(_hourly_network(), near, *drift.tolerance("pm2_5"))
    assert not flags.any()


def test_drift_fires_on_a_device_that_disagrees_for_days():
    near = drift.neighbours_within(*SITES, radius_km=5)
    flags = drift.drift(_hourly_network(offset_device=1, offset=12.0), near, *drift.tolerance("pm2_5"))
    assert flags[1, 48 + 72:].all()  # once the offset fills most of the 72 h window
    assert not flags[1, :48].any()
    assert not flags[[0, 2, 3, 4]].any()


def test_haversine_distance_bordeaux_to_merignac():
    # Bordeaux (44.8378, -0.5792) to Mérignac (44.8386, -0.6436): about 5.1 km east-west at 44.8° N
    d = drift.distances_km(np.array([44.8378, 44.8386]), np.array([-0.5792, -0.6436]))
    assert d[0, 1] == pytest.approx(5.08, abs=0.05) and d[0, 0] == 0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 500, allow_nan=False), min_size=1, max_size=200, unique=True))
def test_stuck_never_fires_without_a_repeated_value(values):
    v = np.array(values)
    t = np.arange(v.size) * 3600
    assert not window.stuck(t, v, min_count=2, min_duration_s=1).any()


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**16), st.floats(0.0, 5.0))
def test_spike_never_fires_on_noise_below_its_floor(seed, sigma):
    rng = np.random.default_rng(seed)
    v = 20 + rng.normal(0, sigma, 300)
    v = np.clip(v, 20 - 12, 20 + 12)  # every deviation below 25 µg/m³
    assert not window.spike(v, min_abs=25.0).any()
