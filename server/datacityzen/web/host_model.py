"""What a host's page shows, as plain numbers: computed from the store and the derived functions.

The page (host_page.py) only formats this; the tests compare it with the readings API and with the
check values of the derived functions.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from .. import privacy
from ..derived import air_indices, noise, weather
from ..store import usage
from ..store.host_data import HostData

LOCAL_TZ = ZoneInfo("Europe/Paris")  # our hosts are in Gironde and Aquitaine
FRESH = timedelta(hours=2)  # a "now" value older than this is not shown as current
PERIODS = {"24h": (timedelta(hours=24), 900), "7d": (timedelta(days=7), 3600), "30d": (timedelta(days=30), 4 * 3600)}
CHART_QUANTITIES = ("temperature", "humidity", "pressure", "pm2_5", "pm10", "noise_laeq")
NEIGHBOUR_RADIUS_M = 10_000


def now_utc() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def to_local(t: datetime) -> datetime:
    return t.replace(tzinfo=timezone.utc).astimezone(LOCAL_TZ)


def _pm(data: HostData, device: str, quantity: str, now: datetime) -> dict | None:
    since = now - FRESH
    raw = data.latest(device, since).get(quantity)
    if raw is None:
        return None
    cal = data.latest_calibrated(device, since).get(quantity)
    calibrated = cal is not None
    mean, n = data.mean(device, quantity, now - timedelta(hours=24), now + timedelta(seconds=1),
                        calibrated=calibrated and data.has_calibrated(device, quantity, now - timedelta(hours=24)))
    return {
        "value": cal["value"] if calibrated else raw["value"],
        "raw": raw["value"],
        "calibrated": calibrated,
        "model": cal["model"] if calibrated else None,
        "mean24": mean,
        "n24": n,
        "flags": raw["flags"],
    }


def indices(pm25_mean: float | None, pm10_mean: float | None) -> dict:
    """All three indices from 24-hour means (whichever pollutants are present)."""
    means = {q: m for q, m in (("pm2_5", pm25_mean), ("pm10", pm10_mean)) if m is not None}
    if not means:
        return {}
    eu = max(air_indices.eu_index(q, m) for q, m in means.items())
    atmo = max(air_indices.atmo_index(q, m) for q, m in means.items())
    us = max(air_indices.us_aqi(q, m) for q, m in means.items())
    us_level, us_key, us_en, us_fr = air_indices.us_aqi_level(us)
    return {
        "eu": {"level": eu, "key": air_indices.EU_LEVELS[eu][0], "en": air_indices.EU_LEVELS[eu][1],
               "fr": air_indices.EU_LEVELS[eu][2]},
        "atmo": {"level": atmo, "key": air_indices.ATMO_LEVELS[atmo][0], "en": air_indices.ATMO_LEVELS[atmo][1],
                 "fr": air_indices.ATMO_LEVELS[atmo][2]},
        "us": {"value": us, "level": us_level, "key": us_key, "en": us_en, "fr": us_fr},
    }


def weather_now(data: HostData, device: str, altitude_m: float | None, now: datetime) -> dict:
    latest = data.latest(device, now - FRESH)
    t = latest.get("temperature", {}).get("value")
    rh = latest.get("humidity", {}).get("value")
    p = latest.get("pressure", {}).get("value")
    out: dict = {"temperature": t, "humidity": rh, "station_pressure": p, "sea_level_pressure": None,
                 "dew_point": None, "heat_index": None, "humidex": None, "forecast": None}
    if t is not None and rh is not None and rh > 0:
        out["dew_point"] = weather.dew_point(t, rh)
        out["heat_index"] = weather.heat_index(t, rh)
        out["humidex"] = weather.humidex(t, rh)
    if p is not None and t is not None and altitude_m is not None:
        slp = weather.sea_level_pressure(p, altitude_m, t)
        out["sea_level_pressure"] = slp
        # The trend compares with the reading nearest to 3 hours before the latest pressure.
        p_time = latest["pressure"]["time"]
        then = p_time - timedelta(hours=3)
        p_then = data.value_near(device, "pressure", then, timedelta(minutes=20))
        t_then = data.value_near(device, "temperature", then, timedelta(minutes=20))
        if p_then is not None and t_then is not None:
            change = slp - weather.sea_level_pressure(p_then, altitude_m, t_then)
            z, letter = weather.zambretti(slp, change)
            out["forecast"] = {"z": z, "letter": letter, "change_3h": change,
                               "trend": weather.pressure_trend(change)}
    return out


def noise_now(data: HostData, device: str, now: datetime) -> dict | None:
    latest = data.latest(device, now - FRESH).get("noise_laeq")
    if latest is None:
        return None
    samples = data.samples(device, "noise_laeq", now - timedelta(hours=24), now + timedelta(seconds=1))
    lden = noise.lden_from_samples((to_local(t), v) for t, v in samples)
    return {"laeq": latest["value"], "lden": lden}


def neighbours(registry, device: str) -> list[str]:
    sites = registry.public_sites()
    if device not in sites:
        return []
    lat, lon = sites[device]
    return sorted(d for d, (la, lo) in sites.items()
                  if d != device and privacy.distance_m(lat, lon, la, lo) <= NEIGHBOUR_RADIUS_M)


def history(data: HostData, registry, device: str, period: str, now: datetime, quantities: list[str]) -> dict:
    span, bucket = PERIODS[period]
    start = now - span
    # Buckets aligned on the bucket size so a chart does not shift with every reading.
    start = datetime.fromtimestamp((int(start.replace(tzinfo=timezone.utc).timestamp()) // bucket) * bucket,
                                   tz=timezone.utc).replace(tzinfo=None)
    near = neighbours(registry, device)
    hidden = registry.hidden_periods(near) if near else {}
    charts = []
    for q in CHART_QUANTITIES:
        if q not in quantities:
            continue
        calibrated = q in ("pm2_5", "pm10") and data.has_calibrated(device, q, start)
        series = data.series(device, q, start, now + timedelta(seconds=1), bucket, calibrated=calibrated)
        rows = data.area_median(near, q, start, now + timedelta(seconds=1), bucket, hidden) if near else []
        charts.append({"quantity": q, "series": series, "median": [(t, v) for t, v, _ in rows],
                       "calibrated": calibrated, "neighbours": max((n for _, _, n in rows), default=0)})
    return {"period": period, "start": start, "end": now, "bucket_s": bucket, "charts": charts}


def badges(c: dict, downloads: int) -> list[str]:
    out = []
    if c["readings"] >= 1:
        out.append("first")
    if c["readings"] >= 1000:
        out.append("r1000")
    if c["readings"] >= 10000:
        out.append("r10000")
    if c["days_active"] >= 7:
        out.append("week")
    if c["days_active"] >= 30:
        out.append("month")
    if c["uptime"] is not None and c["uptime"] >= 0.95 and c["days_active"] >= 2:
        out.append("reliable")
    if downloads >= 1:
        out.append("used")
    return out


def build(store, registry, device: str, period: str = "24h", now: datetime | None = None) -> dict:
    now = now or now_utc()
    data = HostData(store)
    info = registry.device(device)
    site = registry.site(device) or {}
    last = data.last_reading(device)
    quantities = data.quantities(device, now - PERIODS["30d"][0])
    pm25 = _pm(data, device, "pm2_5", now)
    pm10 = _pm(data, device, "pm10", now)
    contribution = data.contribution(device, now)
    downloads = sum(usage.downloads(store, device).values())
    pollen = data.latest(device, now - FRESH).get("pollen_proxy")
    return {
        "device": {**info, "paused": registry.is_paused(device)},
        "site": site,
        "now_utc": now,
        "last": last,
        "weather": weather_now(data, device, site.get("altitude_m"), now),
        "air": {
            "pm2_5": pm25,
            "pm10": pm10,
            "indices": indices(pm25 and pm25["mean24"], pm10 and pm10["mean24"]),
            "pollen_proxy": pollen["value"] if pollen else None,
            "noise": noise_now(data, device, now),
        },
        "history": history(data, registry, device, period, now, quantities),
        "contribution": {**contribution, "downloads": downloads, "badges": badges(contribution, downloads)},
        "alerts": registry.alerts(device),
        "alert_events": registry.alert_events(device, limit=10),
        "deleted_periods": registry.deleted_periods(device),
    }
