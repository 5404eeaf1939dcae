"""Local weather from temperature, humidity and station pressure.

Sources:
- Dew point: Magnus formula with Sonntag (1990) coefficients a = 17.62, b = 243.12 °C over water
  (Sonntag, D. 1990, Z. Meteorol. 70, 340-344). Check: 25 °C, 60 % -> 16.69 °C.
- Heat index: NWS Rothfusz (1990) regression with the NWS adjustments for low and high humidity and
  Steadman's simple formula below 80 °F (NWS Weather Prediction Center, "The Heat Index Equation").
  Checks: 32 °C / 70 % -> 40.41 °C; 30 °C / 50 % -> 31.05 °C.
- Humidex: Masterton & Richardson (1979), Environment Canada: H = T + 5/9 (e - 10) with e the vapour
  pressure in hPa at the dew point, e = 6.11 exp(5417.7530 (1/273.16 - 1/Td[K])).
  Check (Environment Canada): 30 °C with a 15 °C dew point -> 34.
- Sea-level pressure: the hypsometric reduction used by Bosch and most stations,
  p0 = p (1 - 0.0065 h / (T + 0.0065 h + 273.15))^-5.257 (standard lapse rate 0.0065 K/m).
  Check: 1000 hPa at 250 m and 15 °C -> 1030.0 hPa.
"""
from __future__ import annotations

import math

MAGNUS_A = 17.62  # Sonntag 1990, over water
MAGNUS_B = 243.12  # °C, Sonntag 1990
LAPSE_RATE = 0.0065  # K/m, ICAO standard atmosphere
SLP_EXPONENT = 5.257  # g·M/(R·L), ICAO standard atmosphere


def dew_point(temperature_c: float, humidity_pct: float) -> float:
    """Dew point in °C (Magnus-Sonntag). Humidity must be in (0, 100]."""
    if not 0 < humidity_pct <= 100:
        raise ValueError(f"relative humidity {humidity_pct} % is outside (0, 100]")
    gamma = math.log(humidity_pct / 100.0) + MAGNUS_A * temperature_c / (MAGNUS_B + temperature_c)
    return MAGNUS_B * gamma / (MAGNUS_A - gamma)


def _c_to_f(c: float) -> float:
    return c * 9.0 / 5.0 + 32.0


def _f_to_c(f: float) -> float:
    return (f - 32.0) * 5.0 / 9.0


def heat_index(temperature_c: float, humidity_pct: float) -> float:
    """Apparent temperature in °C by the NWS algorithm (Rothfusz regression and its adjustments)."""
    t = _c_to_f(temperature_c)
    rh = humidity_pct
    # NWS: Steadman's simple formula first; the regression only where it averages 80 °F or more.
    simple = 0.5 * (t + 61.0 + (t - 68.0) * 1.2 + rh * 0.094)
    if (simple + t) / 2.0 < 80.0:
        return _f_to_c(simple)
    hi = (-42.379 + 2.04901523 * t + 10.14333127 * rh - 0.22475541 * t * rh
          - 0.00683783 * t * t - 0.05481717 * rh * rh + 0.00122874 * t * t * rh
          + 0.00085282 * t * rh * rh - 0.00000199 * t * t * rh * rh)
    if rh < 13.0 and 80.0 <= t <= 112.0:  # NWS low-humidity adjustment
        hi -= ((13.0 - rh) / 4.0) * math.sqrt((17.0 - abs(t - 95.0)) / 17.0)
    elif rh > 85.0 and 80.0 <= t <= 87.0:  # NWS high-humidity adjustment
        hi += ((rh - 85.0) / 10.0) * ((87.0 - t) / 5.0)
    return _f_to_c(hi)


def humidex(temperature_c: float, humidity_pct: float) -> float:
    """Humidex (dimensionless, read like °C), Environment Canada's formula from the dew point."""
    td_k = dew_point(temperature_c, humidity_pct) + 273.15
    e = 6.11 * math.exp(5417.7530 * (1.0 / 273.16 - 1.0 / td_k))
    return temperature_c + 5.0 / 9.0 * (e - 10.0)


def sea_level_pressure(pressure_hpa: float, altitude_m: float, temperature_c: float) -> float:
    """Station pressure reduced to sea level (hPa)."""
    lh = LAPSE_RATE * altitude_m
    return pressure_hpa * (1.0 - lh / (temperature_c + lh + 273.15)) ** (-SLP_EXPONENT)


# -- Zambretti ----------------------------------------------------------------------------------
# Negretti & Zambra's "Zambretti" forecaster (1915) in its algebraic form: the forecast number Z from
# the sea-level pressure P (hPa) and its 3-hour trend, falling below -1.6 hPa/3 h and rising above
# +1.6 (the instrument's own threshold): falling Z = 127 - 0.12 P (1..9), steady Z = 144 - 0.13 P
# (10..19), rising Z = 185 - 0.16 P (20..32); each number maps to one of the 26 letters A-Z.
# Our kits have no wind vane, so the wind and season corrections of the dial are not applied.
TREND_THRESHOLD_HPA = 1.6

_FALLING = "ABDHORUVX"  # Z = 1..9
_STEADY = "ABEKNPSWXZ"  # Z = 10..19
_RISING = "ABCFGIJLMQTYZ"  # Z = 20..32

FORECASTS = {
    "A": ("Settled fine", "Beau temps stable"),
    "B": ("Fine weather", "Beau temps"),
    "C": ("Becoming fine", "Devenant beau"),
    "D": ("Fine, becoming less settled", "Beau, devenant moins stable"),
    "E": ("Fine, possible showers", "Beau, averses possibles"),
    "F": ("Fairly fine, improving", "Assez beau, en amélioration"),
    "G": ("Fairly fine, possible showers early", "Assez beau, averses possibles d'abord"),
    "H": ("Fairly fine, showery later", "Assez beau, averses plus tard"),
    "I": ("Showery early, improving", "Averses d'abord, puis amélioration"),
    "J": ("Changeable, mending", "Variable, en amélioration"),
    "K": ("Fairly fine, showers likely", "Assez beau, averses probables"),
    "L": ("Rather unsettled, clearing later", "Plutôt instable, éclaircies plus tard"),
    "M": ("Unsettled, probably improving", "Instable, amélioration probable"),
    "N": ("Showery, bright intervals", "Averses et éclaircies"),
    "O": ("Showery, becoming less settled", "Averses, devenant plus instable"),
    "P": ("Changeable, some rain", "Variable, un peu de pluie"),
    "Q": ("Unsettled, short fine intervals", "Instable, courtes éclaircies"),
    "R": ("Unsettled, rain later", "Instable, pluie plus tard"),
    "S": ("Unsettled, rain at times", "Instable, pluie par moments"),
    "T": ("Very unsettled, finer at times", "Très instable, quelques accalmies"),
    "U": ("Rain at times, worse later", "Pluie par moments, se dégradant"),
    "V": ("Rain at times, becoming very unsettled", "Pluie par moments, devenant très instable"),
    "W": ("Rain at frequent intervals", "Pluie fréquente"),
    "X": ("Very unsettled, rain", "Très instable, pluie"),
    "Y": ("Stormy, possibly improving", "Tempête, amélioration possible"),
    "Z": ("Stormy, much rain", "Tempête, beaucoup de pluie"),
}


def pressure_trend(change_hpa_3h: float) -> str:
    """'falling', 'steady' or 'rising' from the sea-level pressure change over 3 hours."""
    if change_hpa_3h < -TREND_THRESHOLD_HPA:
        return "falling"
    if change_hpa_3h > TREND_THRESHOLD_HPA:
        return "rising"
    return "steady"


def zambretti(sea_level_hpa: float, change_hpa_3h: float) -> tuple[int, str]:
    """(Z number 1..32, forecast letter A..Z) from sea-level pressure and its 3-hour change."""
    trend = pressure_trend(change_hpa_3h)
    if trend == "falling":
        z, low, letters = 127 - 0.12 * sea_level_hpa, 1, _FALLING
    elif trend == "steady":
        z, low, letters = 144 - 0.13 * sea_level_hpa, 10, _STEADY
    else:
        z, low, letters = 185 - 0.16 * sea_level_hpa, 20, _RISING
    # Outside the dial's pressure range (about 950-1050 hPa) stay on its first or last letter.
    n = min(max(int(round(z)), low), low + len(letters) - 1)
    return n, letters[n - low]


def forecast_text(letter: str, lang: str) -> str:
    en, fr = FORECASTS[letter]
    return fr if lang == "fr" else en
