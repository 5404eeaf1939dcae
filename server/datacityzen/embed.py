"""What the widgets show: a device's or an area's current public values and the European air quality
index level of their particles.

Only public data: a device's latest values, minus what its host keeps private (paused publication,
deleted periods). An area's value is the mean over the devices inside it (by public location) of each
one's latest value within `FRESH_FOR`. The index is computed on that latest value, which makes it
indicative: the European index is defined on 24-hour running means (derived/air_indices.py), and the
widget says so. The pollen value is a proxy (docs/pollen.md) and is labelled as one.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .quantities import QUANTITIES

FRESH_FOR = timedelta(hours=2)
SHOWN = ("pm2_5", "pm10", "pm1", "pollen_proxy", "temperature", "humidity", "pressure", "noise_laeq")


def _hidden(store, devices):
    try:
        from .store.registry import Registry
    except ImportError:
        return {}
    return Registry.of(store).hidden_periods(list(devices))


def public_latest(store, device: str, now: datetime | None = None) -> dict[str, dict] | None:
    """{quantity: {value, time}} of the device's latest public values; None for an unknown device."""
    if device not in {d["id"] for d in store.devices()}:
        return None
    periods = _hidden(store, [device]).get(device, ())
    now = (now or datetime.now(timezone.utc)).replace(tzinfo=None)
    out = {}
    for q, v in store.latest_values(device).items():
        t = v["time"]
        if any(s <= t and (e is None or t < e) for s, e in periods) or now - t > FRESH_FOR:
            continue
        out[q] = {"value": v["value"], "time": t}
    return out


def area_latest(store, area_id: str, now: datetime | None = None) -> dict | None:
    """{"name", "devices", "values": {quantity: {value, devices}}} or None for an unknown area."""
    from .store.consolidated import for_store

    area = for_store(store).area(area_id)
    if area is None:
        return None
    sums: dict[str, list[float]] = {}
    for device in area["devices"]:
        for q, v in (public_latest(store, device, now) or {}).items():
            sums.setdefault(q, []).append(v["value"])
    values = {q: {"value": sum(xs) / len(xs), "devices": len(xs)} for q, xs in sums.items()}
    return {"name": area["name"], "devices": len(area["devices"]), "values": values}


def eu_level(values: dict) -> tuple[int, str, str, str] | None:
    """(level 0..5, key, English, French) of the worst of PM2.5 and PM10, or None without particles."""
    from .derived.air_indices import EU_LEVELS, eu_index

    levels = {q: eu_index(q, values[q]["value"]) for q in ("pm2_5", "pm10")
              if q in values and values[q]["value"] >= 0}
    if not levels:
        return None
    worst = max(levels.values())
    return (worst,) + EU_LEVELS[worst]


def shown(values: dict) -> list[tuple[str, float, dict]]:
    return [(q, values[q]["value"], QUANTITIES[q]) for q in SHOWN if q in values]
