"""The simulated outdoors: weather and particles as deterministic functions of (seed, Unix time).

Shared by the chip models so a kit's readings agree with each other (humid nights raise PM, the
afternoon is warm and dry). Runs under MicroPython and CPython alike: only `math` and `time`, and an
integer hash instead of `random`, so both give the same numbers for the same seed.

The climate is Bordeaux's (lat 44.84, lon -0.58): a seasonal mean of about 8 degC in January,
12 degC mid-November and 22 degC in July, a +-5 degC diurnal swing peaking at 15 h solar time,
day-to-day weather of a few degrees; relative humidity anti-correlated with temperature (60-98 %);
pressure around 1015 hPa with multi-day systems and the semi-diurnal tide; PM2.5 with a background,
traffic peaks at 8 h 30 and 18 h 30, wood heating in cold evenings, pollution episodes on about one
day in six, and growth in humid air (the over-reading of optical sensors in fog).
"""
import math
import time

_TWO_PI = 2 * math.pi
_DAY = 86400.0
_YEAR_DAYS = 365.2425


def now():
    """Unix time in seconds (float) from the host clock, in both MicroPython and CPython."""
    return time.time()


def _mix(a, b, c):
    """32-bit integer hash of three ints -> float in [0, 1)."""
    h = (a * 0x9E3779B1 + b * 0x85EBCA77 + c * 0xC2B2AE3D + 0x27D4EB2F) & 0xFFFFFFFF
    h ^= h >> 15
    h = (h * 0x2C1B3C6D) & 0xFFFFFFFF
    h ^= h >> 12
    h = (h * 0x297A2D39) & 0xFFFFFFFF
    h ^= h >> 15
    return h / 4294967296.0


def smooth(seed, channel, x):
    """Value noise in [-1, 1): random at each integer x, cosine-interpolated between."""
    i = math.floor(x)
    f = x - i
    i = int(i)
    a = _mix(seed, channel, i) * 2 - 1
    b = _mix(seed, channel, i + 1) * 2 - 1
    w = (1 - math.cos(f * math.pi)) / 2
    return a + (b - a) * w


class Environment:
    def __init__(self, seed=7, lat=44.84, lon=-0.58):
        self.seed = int(seed)
        self.lat = lat
        self.lon = lon

    def _parts(self, t):
        days = t / _DAY
        solar_h = ((t % _DAY) / 3600.0 + self.lon / 15.0) % 24.0
        doy = days % _YEAR_DAYS
        seasonal = 15.0 - 7.0 * math.cos(_TWO_PI * (doy - 20.0) / _YEAR_DAYS) - 0.7 * (self.lat - 44.84)
        diurnal = math.cos(_TWO_PI * (solar_h - 15.0) / 24.0)  # +1 at 15 h, -1 at 3 h
        return days, solar_h, seasonal, diurnal

    def temperature(self, t):
        """Air temperature, degC."""
        days, _, seasonal, diurnal = self._parts(t)
        s = self.seed
        return (seasonal + 5.0 * diurnal + 2.5 * smooth(s, 1, days) + 0.3 * smooth(s, 2, t / 600.0)
                + 0.03 * smooth(s, 3, t / 7.0))

    def humidity(self, t):
        """Relative humidity, %."""
        days, _, _, diurnal = self._parts(t)
        s = self.seed
        rh = 80.0 - 13.0 * diurnal + 6.0 * smooth(s, 4, days / 1.5) + 0.8 * smooth(s, 5, t / 900.0)
        return min(rh, 98.5)  # air this warm does not stay supersaturated

    def pressure(self, t):
        """Station pressure, hPa."""
        days, solar_h, _, _ = self._parts(t)
        s = self.seed
        return (1015.0 + 9.0 * smooth(s, 6, days / 2.5) + 0.6 * math.cos(_TWO_PI * (solar_h - 10.0) / 12.0)
                + 0.02 * smooth(s, 7, t / 11.0))

    def pm(self, t):
        """(PM2.5, PM10) as an SDS011 would see them, ug/m3."""
        days, h, seasonal, _ = self._parts(t)
        s = self.seed
        day = int(math.floor(days))
        base = 6.0 + 3.0 * smooth(s, 8, days / 2.0)
        traffic = 7.0 * math.exp(-((h - 8.5) / 1.5) ** 2) + 5.0 * math.exp(-((h - 18.5) / 2.0) ** 2)
        cold = max(0.0, (16.0 - seasonal) / 8.0)  # wood stoves burn on cold evenings
        heating = 9.0 * cold * math.exp(-((((h - 21.0 + 12.0) % 24.0) - 12.0) / 2.5) ** 2)
        pm25 = base + traffic + heating
        if _mix(s, 9, day) < 0.17:  # an episode day: stagnant air builds up over the day
            pm25 *= 1.8 + 1.5 * math.sin(math.pi * ((t % _DAY) / _DAY))
        rh = self.humidity(t)
        if rh > 80.0:
            pm25 *= 1.0 + 0.03 * (rh - 80.0)
        pm25 *= 1.0 + 0.08 * smooth(s, 10, t / 3.0)  # the SDS011 is noisy second to second
        pm10 = pm25 * (1.35 + 0.15 * smooth(s, 11, days)) + 2.0 + 1.5 * smooth(s, 12, t / 60.0)
        return max(0.0, pm25), max(0.0, pm10)
