"""Which sensor gives which quantity in a kit, and its specified range (kits/sensors.json, kits/*.json).

Configuration read once, like datacityzen.quantities: the flag functions themselves stay pure.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from ..quantities import QUANTITIES

KITS_DIR = Path(__file__).resolve().parents[3] / "kits"


@lru_cache(maxsize=1)
def sensors() -> dict:
    with open(KITS_DIR / "sensors.json", encoding="utf-8") as f:
        return json.load(f)["sensors"]


@lru_cache(maxsize=64)
def kit_sensors(kit: str | None) -> tuple[str, ...]:
    """Sensor types of a kit, () when the kit is unknown."""
    if not kit or "/" in kit or kit.startswith("."):
        return ()
    path = KITS_DIR / f"{kit}.json"
    if not path.is_file():
        return ()
    with open(path, encoding="utf-8") as f:
        return tuple(s["type"] for s in json.load(f).get("sensors", ()))


def sensor_for(kit: str | None, quantity: str) -> str | None:
    """The sensor type that gives `quantity` in `kit` (None when unknown)."""
    table = sensors()
    for s in kit_sensors(kit):
        if quantity in table.get(s, {}).get("quantities", ()):
            return s
    return None


def specified_range(kit: str | None, quantity: str) -> tuple[float, float]:
    """The sensor's specified range, else the quantity's physically valid range."""
    s = sensor_for(kit, quantity)
    if s is not None:
        r = sensors()[s].get("specified_range", {}).get(quantity)
        if r:
            return float(r[0]), float(r[1])
    q = QUANTITIES.get(quantity)
    return q["valid_range"] if q else (float("-inf"), float("inf"))


def warmup_s(kit: str | None, quantity: str) -> float:
    s = sensor_for(kit, quantity)
    return float(sensors()[s].get("warmup_s", 0)) if s else 0.0


def quantities_of_sensor(sensor: str) -> tuple[str, ...]:
    return tuple(sensors().get(sensor, {}).get("quantities", ()))
