"""GET /api/v1/readings: raw or calibrated readings, whole or aggregated, streamed as JSON, CSV or Parquet.

Nothing is capped (no row limit, no maximum time range): the response streams from the store.
"""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query

from ..reuse import current_api_key
from ..store.base import Aggregation
from ..store.usage import record_download
from .deps import StoreDep, bad_request, parse_every, parse_selection
from .streams import streaming_response

router = APIRouter(prefix="/api/v1", tags=["readings"])

DEVICE_HELP = "device id; repeat or comma-separate for several. Give `device`, `bbox` or both (their intersection)."
BBOX_HELP = (
    "devices whose public location lies in min_lon,min_lat,max_lon,max_lat (WGS 84 degrees). "
    "Public locations are snapped to a grid of at least 100 m; exact locations are never used."
)
QUANTITY_HELP = "quantity id (pm2_5, temperature, ...; see kits/quantities.json); repeat or comma-separate"
START_HELP = "ISO 8601 time, inclusive; UTC when no offset"
END_HELP = "ISO 8601 time, exclusive; UTC when no offset"
LAYER_HELP = (
    "`raw`: values as the device sent them, with the firmware's flags; `calibrated`: corrected values with "
    "their quality flags and the model name and version that produced them"
)
EVERY_HELP = (
    "aggregate in fixed windows: a number and a unit s, m (minutes), h, d or w (1m, 15m, 1h, 1d, ...). "
    "Windows are aligned on UTC midnight; `time` is the start of the window"
)
AGG_HELP = "the statistic of each window (with `every`; default mean)"

COLUMNS_DOC = """
Columns (JSON keys, CSV header, Parquet fields), ordered by device, quantity and time:

* raw: `time`, `device`, `quantity`, `value`, `seq` (the device's sequence number), `flags` (list of
  quality flags; `;`-joined in CSV);
* calibrated: the same plus `model` and `model_version`; `value` is null where the flags exclude it;
* with `every`: `time` (window start), `device`, `quantity`, `value` (the statistic) and `count`
  (values in the window).

Times are UTC: ISO 8601 with `Z` in JSON and CSV, a UTC timestamp in Parquet.
"""


@router.get(
    "/readings",
    summary="Readings of devices, raw or calibrated, whole or aggregated, streamed",
    description=(
        "Readings of the given devices (by id, or by a bounding box on their public location) and "
        "quantities between `start` (inclusive) and `end` (exclusive). Nothing is capped: the "
        "response streams, whatever its size (a full year of one-minute data included).\n" + COLUMNS_DOC
    ),
    responses={
        200: {
            "content": {
                "application/json": {},
                "text/csv": {},
                "application/vnd.apache.parquet": {},
            },
            "description": "The readings, in the requested format.",
        },
        400: {"description": "A parameter is wrong; `detail` says which and how to fix it."},
    },
)
def get_readings(
    store: StoreDep,
    device: list[str] | None = Query(None, description=DEVICE_HELP),
    bbox: str | None = Query(None, description=BBOX_HELP, examples=["-0.65,44.80,-0.52,44.90"]),
    quantity: list[str] = Query(..., description=QUANTITY_HELP),
    start: str | None = Query(None, description=START_HELP),
    end: str | None = Query(None, description=END_HELP),
    layer: Literal["raw", "calibrated"] = Query("raw", description=LAYER_HELP),
    every: str | None = Query(None, description=EVERY_HELP, examples=["1h"]),
    agg: Literal["mean", "min", "max", "median", "count"] | None = Query(None, description=AGG_HELP),
    format: Literal["json", "csv", "parquet"] = Query("json", description="response format"),
):
    selection = parse_selection(device, bbox, quantity, start, end, layer)
    every_s = parse_every(every)
    if agg is not None and every_s is None:
        raise bad_request(f"agg={agg} needs a window: add every=1h (or 1m, 1d, ...)")
    aggregation = Aggregation(every_s, agg or "mean") if every_s is not None else None
    reader = store.reading_batches(selection, aggregation)
    # Counts the download per device (and per reuser key when one was given; api/reuse.py checks it).
    # Readings the hosts keep private (paused publication, deleted periods) are left out by the store.
    record_download(store, store.selection_devices(selection), "readings", api_key=current_api_key.get())
    return streaming_response(reader, format, "readings")
