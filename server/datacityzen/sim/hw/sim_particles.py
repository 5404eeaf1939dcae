"""The simulated outdoor aerosol by size, for the PMS5003/PMS7003 and SPS30 models.

Built on sim_env.Environment.pm(t) (PM2.5 and PM10 as an SDS011 sees them), so every PM sensor of a
simulated kit agrees with the others. Adds what those two numbers lack:
- a fine/coarse split: PM1 is about 70 % of PM2.5 in urban air, PM4 sits between PM2.5 and PM10;
- a pollen season of coarse particles, peaking in early May (grasses, Gironde) at midday and zero
  outside March-July, so the pollen proxy has something to show; it adds to the >5 and >10 um
  counts and to PM10;
- number concentrations with the shape low-cost counters report: most particles below 0.5 um.
The counts are rough but consistent with the masses (a 10 ug/m3 PM2.5 urban aerosol gives about 1,700
particles > 0.3 um per 0.1 L on a PMS5003).
Runs under MicroPython and CPython (math only).
"""
import math

import sim_env

_DAY = 86400.0
_YEAR_DAYS = 365.2425
_POLLEN_PEAK_DOY = 125.0  # early May
_POLLEN_HALF_WIDTH_DAYS = 45.0


def pollen(env, t):
    """Coarse pollen-like particles, as extra PM10 mass (ug/m3): a seasonal bump, a midday peak,
    day-to-day weather, and nothing when it rains hard (humidity near saturation)."""
    days = t / _DAY
    doy = days % _YEAR_DAYS
    d = (doy - _POLLEN_PEAK_DOY) / _POLLEN_HALF_WIDTH_DAYS
    if abs(d) >= 1.0:
        return 0.0
    season = math.cos(d * math.pi / 2) ** 2
    solar_h = ((t % _DAY) / 3600.0 + env.lon / 15.0) % 24.0
    diurnal = math.exp(-((solar_h - 13.0) / 3.5) ** 2)
    weather = 0.6 + 0.4 * sim_env.smooth(env.seed, 20, days)
    wet = max(0.0, min(1.0, (env.humidity(t) - 85.0) / 10.0))
    return 12.0 * season * (0.2 + 0.8 * diurnal) * weather * (1.0 - wet)


class Aerosol:
    """Size-resolved values at time t, from one environment."""

    def __init__(self, env):
        self.env = env

    def masses(self, t):
        """(pm1, pm2_5, pm4, pm10, coarse_pollen) in ug/m3."""
        pm25, pm10 = self.env.pm(t)
        extra = pollen(self.env, t)
        pm10 += extra
        pm1 = 0.7 * pm25
        pm4 = pm25 + 0.35 * (pm10 - pm25 - extra)
        return pm1, pm25, pm4, pm10, extra

    def counts_per_dl(self, t):
        """Cumulative counts beyond 0.3, 0.5, 1, 2.5, 5 and 10 um per 0.1 L."""
        pm1, pm25, pm4, pm10, extra = self.masses(t)
        coarse = max(0.0, pm10 - pm25 - extra)
        gt0_3 = 170.0 * pm1 + 40.0 * pm25
        gt0_5 = 50.0 * pm1 + 12.0 * pm25
        gt1_0 = 6.0 * pm25 + 3.0 * coarse
        gt2_5 = 0.6 * pm25 + 1.5 * coarse + 0.5 * extra
        gt5_0 = 0.1 * pm25 + 0.35 * coarse + 0.9 * extra
        gt10 = 0.03 * pm25 + 0.08 * coarse + 0.35 * extra
        return gt0_3, gt0_5, gt1_0, gt2_5, gt5_0, gt10

    def sps30_numbers(self, t):
        """Number concentrations below 0.5, 1, 2.5, 4 and 10 um in #/cm3 (SPS30 style: cumulative
        from the smallest size it sees, 0.3 um), and the typical particle size in um."""
        gt0_3, gt0_5, gt1_0, gt2_5, gt5_0, gt10 = self.counts_per_dl(t)
        per_cm3 = 0.01  # 1 dL = 100 cm3
        total = gt0_3 - gt10
        lt0_5 = (gt0_3 - gt0_5) * per_cm3
        lt1_0 = (gt0_3 - gt1_0) * per_cm3
        lt2_5 = (gt0_3 - gt2_5) * per_cm3
        lt4_0 = (gt0_3 - 0.4 * gt2_5 - 0.6 * gt5_0) * per_cm3
        lt10 = total * per_cm3
        size = 0.45 + 0.6 * (gt1_0 / total if total > 0 else 0.0)
        return lt0_5, lt1_0, lt2_5, lt4_0, lt10, size
