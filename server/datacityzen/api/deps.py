"""Dependencies shared by the routers, in one place so route signatures read like prose."""
from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Annotated, Callable, TypeVar

from fastapi import Depends, HTTPException, Request

from ..quantities import QUANTITIES
from ..store.base import Selection


def get_store(request: Request):
    return request.app.state.store


StoreDep = Annotated[object, Depends(get_store)]

T = TypeVar("T")


def app_object(request: Request, name: str, make: Callable[[object], T]) -> T:
    """The app's one `name` (an ingestor, a filter, ...), made by `make(app.state)` on first use and
    kept in app.state."""
    state = request.app.state
    found = getattr(state, name, None)
    if found is None:
        found = make(state)
        setattr(state, name, found)
    return found


def bad_request(message: str) -> HTTPException:
    return HTTPException(status_code=400, detail=message)


def split_list(values: list[str] | None) -> list[str]:
    """Accept both `?device=a&device=b` and `?device=a,b`."""
    out: list[str] = []
    for v in values or []:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


def parse_quantities(values: list[str] | None) -> list[str]:
    quantities = split_list(values)
    if not quantities:
        raise bad_request("give at least one quantity, e.g. quantity=pm2_5")
    unknown = [q for q in quantities if q not in QUANTITIES]
    if unknown:
        raise bad_request(
            f"unknown quantity {', '.join(unknown)}; known quantities: {', '.join(sorted(QUANTITIES))}"
        )
    return quantities


def parse_time(value: str | None, name: str) -> datetime | None:
    """ISO 8601; a time without offset is UTC."""
    if value is None or value == "":
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+"))
        if t.tzinfo is None:
            t = t.replace(tzinfo=timezone.utc)
        return t.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise bad_request(f"{name}={value!r} is not an ISO 8601 time (e.g. 2026-11-23T08:00:00Z)") from None


def iso_utc(t: datetime | None) -> str | None:
    """A stored (naive UTC) time as ISO 8601 with a Z suffix."""
    if t is None:
        return None
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc).replace(tzinfo=None)
    return t.isoformat(timespec="microseconds" if t.microsecond else "seconds") + "Z"


_EVERY_RE = re.compile(r"([1-9][0-9]{0,6})(s|m|h|d|w)")
_EVERY_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_EVERY_S = 366 * 86400


def parse_every(value: str | None) -> int | None:
    """`30s`, `1m` (minute), `1h`, `1d`, `1w` -> seconds; None when absent."""
    if value is None or value == "":
        return None
    m = _EVERY_RE.fullmatch(value.strip())
    if not m:
        raise bad_request(
            f"every={value!r} is not a window: a number and a unit s, m (minutes), h, d or w, e.g. every=1h"
        )
    seconds = int(m.group(1)) * _EVERY_UNIT_S[m.group(2)]
    if seconds > MAX_EVERY_S:
        raise bad_request(f"every={value} is longer than 366 days; leave it out to get one window")
    return seconds


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """`min_lon,min_lat,max_lon,max_lat` (WGS 84 degrees, the GeoJSON order) or None."""
    if value is None or value == "":
        return None
    parts = value.split(",")
    example = "bbox=-0.65,44.80,-0.52,44.90 (min_lon,min_lat,max_lon,max_lat)"
    if len(parts) != 4:
        raise bad_request(f"bbox={value!r} needs four numbers: {example}")
    try:
        min_lon, min_lat, max_lon, max_lat = (float(p) for p in parts)
    except ValueError:
        raise bad_request(f"bbox={value!r} has something that is not a number: {example}") from None
    if not all(math.isfinite(x) for x in (min_lon, min_lat, max_lon, max_lat)):
        raise bad_request(f"bbox={value!r} must be finite numbers: {example}")
    if not (-180 <= min_lon <= 180 and -180 <= max_lon <= 180):
        raise bad_request(f"bbox={value!r}: longitudes must lie between -180 and 180")
    if not (-90 <= min_lat <= 90 and -90 <= max_lat <= 90):
        raise bad_request(f"bbox={value!r}: latitudes must lie between -90 and 90")
    if min_lon > max_lon or min_lat > max_lat:
        raise bad_request(f"bbox={value!r}: the minimum must not exceed the maximum ({example})")
    return min_lon, min_lat, max_lon, max_lat


def parse_range(start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
    t0, t1 = parse_time(start, "start"), parse_time(end, "end")
    if t0 is not None and t1 is not None and t1 < t0:
        raise bad_request(f"end ({end}) is before start ({start})")
    return t0, t1


def parse_selection(device: list[str] | None, bbox: str | None, quantity: list[str] | None,
                    start: str | None, end: str | None, layer: str) -> Selection:
    """The query parameters every data endpoint shares, validated, as a store Selection.

    A set of devices is named by `device` ids, by a `bbox` on their public locations, or both
    (the intersection); another way to name one (an area) resolves to device ids and passes `devices`.
    """
    devices = split_list(device)
    box = parse_bbox(bbox)
    if not devices and box is None:
        raise bad_request("give at least one device (device=dcz-3f2a9c) or a bbox (bbox=min_lon,min_lat,max_lon,max_lat)")
    quantities = parse_quantities(quantity)
    t0, t1 = parse_range(start, end)
    return Selection(devices=tuple(devices) or None, quantities=tuple(quantities), start=t0, end=t1,
                     layer=layer, bbox=box)
