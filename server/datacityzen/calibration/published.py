"""Published PM2.5 corrections, as pure functions of numpy arrays.

Each constant cites its source; tests/server/test_calibration.py checks them against published values.
Inputs are the sensor's own raw readings: `x` its PM2.5 (µg/m³), `rh` its relative humidity (%).
"""
from __future__ import annotations

import numpy as np

# US EPA nationwide PurpleAir correction: Barkjohn, Gantt and Clements 2021, "Development and application
# of a United States-wide correction for PM2.5 data collected with the PurpleAir sensor", Atmos. Meas.
# Tech. 14, 4617-4637, doi:10.5194/amt-14-4617-2021, equation (final model):
#     PM2.5 = 0.524 * PA_cf1 - 0.0862 * RH + 5.75
EPA_2021_SLOPE = 0.524
EPA_2021_RH = -0.0862
EPA_2021_INTERCEPT = 5.75

# Extension for extreme smoke: Barkjohn, Holder, Frederick and Clements 2022, "Correction and Accuracy
# of PurpleAir PM2.5 Measurements for Extreme Wildfire Smoke", Sensors 22(24), 9669,
# doi:10.3390/s22249669. Below 570 µg/m³ (raw) the 2021 equation (570 is where it gives 300 µg/m³ at
# 50 % RH); from 611 up a quadratic; in between a linear blend with weight w = 0.0244 x - 13.9.
SMOKE_LOW = 570.0
SMOKE_HIGH = 611.0
SMOKE_WEIGHT_SLOPE = 0.0244
SMOKE_WEIGHT_OFFSET = -13.9
SMOKE_LINEAR = 0.46
SMOKE_QUADRATIC = 3.93e-4
SMOKE_INTERCEPT = 2.97

# κ-Köhler hygroscopic growth: Crilley et al. 2018, "Evaluation of a low-cost optical particle counter
# (Alphasense OPC-N2) for ambient air monitoring", Atmos. Meas. Tech. 11, 709-720,
# doi:10.5194/amt-11-709-2018: PM_dry = PM / (1 + (κ/ρ) / (1/a_w - 1)), a_w = RH/100, with the
# particle density term written κ/1.65. Nilson et al. 2022 (Atmos. Meas. Tech. 15, 3315-3328,
# doi:10.5194/amt-15-3315-2022) use κ/1.65 = 0.24 with RH clamped to 30-70 %.
KOEHLER_KAPPA_OVER_DENSITY = 0.24
KOEHLER_RH_MIN = 30.0
KOEHLER_RH_MAX = 70.0


def _arrays(*xs):
    return [np.asarray(x, dtype=np.float64) for x in xs]


def epa_2021(x, rh):
    """Barkjohn et al. 2021 US-wide correction (see module constants)."""
    x, rh = _arrays(x, rh)
    return EPA_2021_SLOPE * x + EPA_2021_RH * rh + EPA_2021_INTERCEPT


def smoke_weight(x):
    """The blending weight of the 2022 extension, 0 at and below 570, 1 at and above 611."""
    (x,) = _arrays(x)
    return np.clip(SMOKE_WEIGHT_SLOPE * x + SMOKE_WEIGHT_OFFSET, 0.0, 1.0)


def smoke_quadratic(x):
    (x,) = _arrays(x)
    return SMOKE_LINEAR * x + SMOKE_QUADRATIC * (x * x) + SMOKE_INTERCEPT


def epa_2022_smoke(x, rh):
    """Barkjohn et al. 2022: the 2021 correction below 570, quadratic from 611, blended between.

    The published weight 0.0244 x - 13.9 is 0.008 at 570 and 1.008 at 611; within [570, 611) it is
    used as published (clipping only matters outside that interval, where the formula is not blended).
    """
    x, rh = _arrays(x, rh)
    low = epa_2021(x, rh)
    high = smoke_quadratic(x)
    w = SMOKE_WEIGHT_SLOPE * x + SMOKE_WEIGHT_OFFSET
    blended = w * high + (1.0 - w) * low
    return np.where(x < SMOKE_LOW, low, np.where(x < SMOKE_HIGH, blended, high))


def koehler_growth_factor(rh, kappa_over_density=KOEHLER_KAPPA_OVER_DENSITY,
                          rh_min=KOEHLER_RH_MIN, rh_max=KOEHLER_RH_MAX):
    """Mass growth factor C(RH) = 1 + (κ/ρ)/(100/RH - 1), RH clamped to [rh_min, rh_max]."""
    (rh,) = _arrays(rh)
    clamped = np.clip(rh, rh_min, rh_max)
    return 1.0 + kappa_over_density / (100.0 / clamped - 1.0)


def kappa_koehler(x, rh, kappa_over_density=KOEHLER_KAPPA_OVER_DENSITY,
                  rh_min=KOEHLER_RH_MIN, rh_max=KOEHLER_RH_MAX):
    """Dry PM: the wet reading divided by the κ-Köhler growth factor (Crilley et al. 2018)."""
    (x,) = _arrays(x)
    return x / koehler_growth_factor(rh, kappa_over_density, rh_min, rh_max)
