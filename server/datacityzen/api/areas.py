"""GET /api/v1/areas and per-area aggregates of the calibrated layer (the consolidated layer)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from fastapi import APIRouter, HTTPException, Path, Query

from ..quantities import QUANTITIES
from ..store.consolidated import ConsolidatedStore, for_store
from .deps import StoreDep, bad_request, iso_utc, parse_time

router = APIRouter(prefix="/api/v1", tags=["areas"])

_EVERY_RE = re.compile(r"([1-9][0-9]{0,4})(m|h|d)")
_UNIT_US = {"m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000}
MAX_BUCKETS = 10_000
DEFAULT_SPAN = timedelta(days=7)
AREA_ID = Path(..., pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="area id, as imported")


def _consolidated(store) -> ConsolidatedStore:
    return for_store(store)


def parse_every(every: str) -> int:
    m = _EVERY_RE.fullmatch(every or "")
    if not m:
        raise bad_request(f"every={every!r} must be a number and a unit m, h or d, e.g. 15m, 1h, 1d "
                          f"/ every doit être un nombre suivi de m, h ou d")
    return int(m.group(1)) * _UNIT_US[m.group(2)]


def _not_found(area_id: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"no area {area_id!r} / aucune zone {area_id!r}; see /api/v1/areas")


@router.get("/areas", summary="Areas (communes, districts) the operator imported")
def list_areas(store: StoreDep):
    return {"areas": _consolidated(store).areas()}


@router.get("/areas/{area_id}", summary="One area: its GeoJSON geometry and the devices inside it")
def get_area(store: StoreDep, area_id: str = AREA_ID):
    area = _consolidated(store).area(area_id)
    if area is None:
        raise _not_found(area_id)
    return {"type": "Feature", "id": area["id"], "geometry": area["geometry"],
            "properties": {"name": area["name"], "kind": area["kind"], "devices": area["devices"],
                           "reference_stations": area["reference_stations"]}}


@router.get(
    "/areas/{area_id}/aggregates",
    summary="Per-area aggregates of calibrated values",
    description=("For each time bucket of length `every`: the mean over the devices inside the area of "
                 "each device's mean calibrated value (values the quality flags exclude are left out), "
                 "min and max of those device means, the number of devices and values, and the mean of "
                 "the reference stations inside the area. Default period: the last 7 days."),
)
def area_aggregates(
    store: StoreDep,
    area_id: str = AREA_ID,
    quantity: str = Query(..., description="quantity id, e.g. pm2_5"),
    start: str | None = Query(None, description="ISO 8601, inclusive; UTC when no offset"),
    end: str | None = Query(None, description="ISO 8601, exclusive; UTC when no offset"),
    every: str = Query("1h", description="bucket length: 15m, 1h, 1d ..."),
):
    if quantity not in QUANTITIES:
        raise bad_request(f"unknown quantity {quantity!r}; known quantities: {', '.join(sorted(QUANTITIES))}")
    every_us = parse_every(every)
    t1 = parse_time(end, "end") or datetime.now(timezone.utc)
    t0 = parse_time(start, "start") or (t1 - DEFAULT_SPAN)
    if t1 <= t0:
        raise bad_request(f"end ({iso_utc(t1)}) must come after start ({iso_utc(t0)})")
    if (t1 - t0) / timedelta(microseconds=every_us) > MAX_BUCKETS:
        raise bad_request(f"more than {MAX_BUCKETS} buckets: choose a longer 'every' or a shorter period")
    rows = _consolidated(store).aggregates(area_id, quantity, t0, t1, every_us)
    if rows is None:
        raise _not_found(area_id)
    for r in rows:
        r["time"] = iso_utc(r["time"])
    return {"area": area_id, "quantity": quantity, "unit": QUANTITIES[quantity]["unit"], "every": every,
            "layer": "calibrated", "start": iso_utc(t0), "end": iso_utc(t1), "rows": rows}
