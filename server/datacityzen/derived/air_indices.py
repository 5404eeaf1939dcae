"""Air quality indices from PM2.5 and PM10 concentrations (µg/m³).

Sources:
- US AQI: US EPA, "Technical Assistance Document for the Reporting of Daily Air Quality - the Air
  Quality Index (AQI)", EPA-454/B-24-002 (May 2024), table 6, after the 2024 PM NAAQS revision.
  PM2.5 24-h breakpoints 9.0 / 35.4 / 55.4 / 125.4 / 225.4 / 325.4 µg/m³ for AQI 50 / 100 / 150 / 200 /
  300 / 500; PM10 24-h breakpoints 54 / 154 / 254 / 354 / 424 / 604 µg/m³ (unchanged in 2024).
  Concentrations are truncated (PM2.5 to 0.1, PM10 to 1 µg/m³), then interpolated linearly within a
  band and rounded to an integer. Checks: 9.0 -> 50, 9.1 -> 51, 35.4 -> 100, 55.5 -> 151, 325.4 -> 500.
- European Air Quality Index, European Environment Agency, bands in force 2021-2024: PM2.5 10 / 20 /
  25 / 50 / 75 µg/m³, PM10 20 / 40 / 50 / 100 / 150 µg/m³ (good, fair, moderate, poor, very poor,
  extremely poor) on 24-hour running means. (A revised index came into use in 2024; we keep the 2021
  bands because the French ATMO index below is defined on them.)
- French ATMO index: arrêté du 10 juillet 2020 relatif à l'indice de la qualité de l'air ambiant,
  annexe: PM2.5 0-10 bon, 11-20 moyen, 21-25 dégradé, 26-50 mauvais, 51-75 très mauvais, > 75
  extrêmement mauvais; PM10 0-20, 21-40, 41-50, 51-100, 101-150, > 150, on daily means rounded to the
  integer. The index is the worst sub-index.
"""
from __future__ import annotations

import math

# (concentration high, index high) per band; the low ends follow from the previous band.
US_PM25 = ((9.0, 50), (35.4, 100), (55.4, 150), (125.4, 200), (225.4, 300), (325.4, 500))
US_PM10 = ((54.0, 50), (154.0, 100), (254.0, 150), (354.0, 200), (424.0, 300), (604.0, 500))
US_STEP = {"pm2_5": 0.1, "pm10": 1.0}
US_LEVELS = (
    (50, "good", "Good", "Bon"),
    (100, "moderate", "Moderate", "Modéré"),
    (150, "usg", "Unhealthy for sensitive groups", "Mauvais pour les personnes sensibles"),
    (200, "unhealthy", "Unhealthy", "Mauvais pour la santé"),
    (300, "very_unhealthy", "Very unhealthy", "Très mauvais pour la santé"),
    (500, "hazardous", "Hazardous", "Dangereux"),
)

EU_BANDS = {"pm2_5": (10, 20, 25, 50, 75), "pm10": (20, 40, 50, 100, 150)}
EU_LEVELS = (
    ("good", "Good", "Bon"),
    ("fair", "Fair", "Moyen"),
    ("moderate", "Moderate", "Modéré"),
    ("poor", "Poor", "Mauvais"),
    ("very_poor", "Very poor", "Très mauvais"),
    ("extremely_poor", "Extremely poor", "Extrêmement mauvais"),
)
ATMO_LEVELS = (
    ("bon", "Good", "Bon"),
    ("moyen", "Fair", "Moyen"),
    ("degrade", "Degraded", "Dégradé"),
    ("mauvais", "Poor", "Mauvais"),
    ("tres_mauvais", "Very poor", "Très mauvais"),
    ("extremement_mauvais", "Extremely poor", "Extrêmement mauvais"),
)


def _check(concentration: float) -> None:
    if not math.isfinite(concentration) or concentration < 0:
        raise ValueError(f"concentration {concentration!r} must be a finite number >= 0")


def us_aqi(quantity: str, concentration: float) -> int:
    """US AQI sub-index for pm2_5 or pm10 (24-h mean). Above the top band: 500 (beyond the AQI)."""
    _check(concentration)
    table = {"pm2_5": US_PM25, "pm10": US_PM10}[quantity]
    step = US_STEP[quantity]
    # Truncate as EPA says; the small epsilon keeps 35.4 at 35.4 despite binary fractions.
    c = math.floor(concentration / step + 1e-9) * step
    c_low, i_low = 0.0, 0
    for c_high, i_high in table:
        if c <= c_high + 1e-9:
            return int(round((i_high - i_low) / (c_high - c_low) * (c - c_low) + i_low))
        c_low, i_low = c_high + step, i_high + 1
    return 500


def us_aqi_level(aqi: int) -> tuple[int, str, str, str]:
    """(category 0..5, key, English name, French name) of a US AQI value."""
    for i, (top, key, en, fr) in enumerate(US_LEVELS):
        if aqi <= top:
            return i, key, en, fr
    return (len(US_LEVELS) - 1,) + US_LEVELS[-1][1:]


def _band(bands: tuple, value: float) -> int:
    for i, top in enumerate(bands):
        if value <= top:
            return i
    return len(bands)


def eu_index(quantity: str, concentration: float) -> int:
    """European AQI level 0 (good) .. 5 (extremely poor) for pm2_5 or pm10 (24-h running mean)."""
    _check(concentration)
    return _band(EU_BANDS[quantity], concentration)


def atmo_index(quantity: str, concentration: float) -> int:
    """French ATMO level 0 (bon) .. 5 (extrêmement mauvais) from a daily mean, rounded to the integer
    as the arrêté's bands are written in integers (0-10, 11-20, ...)."""
    _check(concentration)
    return _band(EU_BANDS[quantity], math.floor(concentration + 0.5))


def worst(levels: dict[str, int]) -> int:
    """Both indices take the worst pollutant's level."""
    return max(levels.values())
