"""Flags one reading earns on its own."""
from __future__ import annotations

import numpy as np

# Jayaratne et al. 2018, "The influence of humidity on the performance of a low-cost air particle mass
# sensor and the effect of atmospheric fog", Atmos. Meas. Tech. 11, 4883-4890,
# doi:10.5194/amt-11-4883-2018: particle number and mass reported by a Plantower sensor rise
# significantly above about 75 % RH (fog raised PM10 by 46 %).
FOG_RH_THRESHOLD = 75.0


def out_of_range(values, low: float, high: float) -> np.ndarray:
    """True where a value lies outside [low, high] (a sensor's specified range). NaN is not flagged."""
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return (v < low) | (v > high)


def fog(rh, threshold: float = FOG_RH_THRESHOLD) -> np.ndarray:
    """True where the relative humidity beside a PM reading is above the fog threshold."""
    h = np.asarray(rh, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return h > threshold
