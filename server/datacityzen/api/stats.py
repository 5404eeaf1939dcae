"""GET /api/v1/stats: windowed descriptive statistics per device, or pooled over a set of devices.

A set of devices is named the same way as for /api/v1/readings (`device` ids, a `bbox`); any other
way of naming one (an area) resolves to device ids first, so `group=area` works for all of them.
"""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query

from .deps import StoreDep, parse_every, parse_selection
from .readings import BBOX_HELP, DEVICE_HELP, END_HELP, LAYER_HELP, QUANTITY_HELP, START_HELP
from .streams import streaming_response

router = APIRouter(prefix="/api/v1", tags=["readings"])

STATS_DOC = """
One row per device (or one for the whole set with `group=area`), quantity and window, with columns
`window_start`, `window_end` (the window; without `every`, the requested `start` and `end`, null when
open), `device` (null with `group=area`), `quantity`, `devices` (devices contributing), `count`,
`mean`, `min`, `max`, `median`, `stddev` (sample standard deviation, n − 1; null for one value),
`first` and `last` (times of the first and last value in the window). Windows without values are
left out. Missing values (calibrated values the flags exclude) are not counted.
"""


@router.get(
    "/stats",
    summary="Descriptive statistics per device or area, per window",
    description=(
        "Mean, minimum, maximum, median, standard deviation and count of the selected values, per "
        "device or pooled over the selected devices (`group=area`), in fixed windows (`every`) or "
        "over the whole range.\n" + STATS_DOC
    ),
    responses={
        200: {"content": {"application/json": {}, "text/csv": {}}, "description": "The statistics."},
        400: {"description": "A parameter is wrong; `detail` says which and how to fix it."},
    },
)
def get_stats(
    store: StoreDep,
    device: list[str] | None = Query(None, description=DEVICE_HELP),
    bbox: str | None = Query(None, description=BBOX_HELP),
    quantity: list[str] = Query(..., description=QUANTITY_HELP),
    start: str | None = Query(None, description=START_HELP),
    end: str | None = Query(None, description=END_HELP),
    layer: Literal["raw", "calibrated"] = Query("raw", description=LAYER_HELP),
    every: str | None = Query(
        None, description="window length (1h, 1d, 1w, ...; aligned on UTC midnight); none: one window"
    ),
    group: Literal["device", "area"] = Query(
        "device", description="`device`: statistics per device; `area`: pooled over all selected devices"
    ),
    format: Literal["json", "csv"] = Query("json", description="response format"),
):
    selection = parse_selection(device, bbox, quantity, start, end, layer)
    reader = store.stats_batches(selection, parse_every(every), pooled=(group == "area"))
    return streaming_response(reader, format, "stats")
