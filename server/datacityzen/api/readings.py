"""GET /api/v1/readings: raw readings of one or more devices and quantities, streamed as JSON or CSV."""
from __future__ import annotations

import csv
import io
import json
from typing import Iterator, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from ..reuse import current_api_key
from ..store.usage import public_download
from .deps import StoreDep, bad_request, iso_utc, parse_quantities, parse_time, split_list

router = APIRouter(prefix="/api/v1", tags=["readings"])

COLUMNS = ("time", "device", "quantity", "value", "seq", "flags")


def _row_dict(row) -> dict:
    time, device, quantity, value, seq, flags = row
    return {
        "time": iso_utc(time),
        "device": device,
        "quantity": quantity,
        "value": value,
        "seq": seq,
        "flags": flags.split(",") if flags else [],
    }


def _json_stream(chunks: Iterator[list[tuple]]) -> Iterator[bytes]:
    yield b"["
    first = True
    for chunk in chunks:
        parts = [json.dumps(_row_dict(row), separators=(",", ":")) for row in chunk]
        text = ",".join(parts)
        yield (text if first else "," + text).encode()
        first = False
    yield b"]"


def _csv_stream(chunks: Iterator[list[tuple]]) -> Iterator[bytes]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    yield buf.getvalue().encode()
    for chunk in chunks:
        buf.seek(0)
        buf.truncate()
        for row in chunk:
            d = _row_dict(row)
            d["flags"] = ";".join(d["flags"])
            writer.writerow([d[c] for c in COLUMNS])
        yield buf.getvalue().encode()


@router.get(
    "/readings",
    summary="Raw readings, streamed",
    description=(
        "Readings of the given devices and quantities between `start` (inclusive) and `end` "
        "(exclusive), ordered by device, quantity and time. Nothing is capped: the response streams."
    ),
)
def get_readings(
    store: StoreDep,
    device: list[str] = Query(..., description="device id; repeat or comma-separate for several"),
    quantity: list[str] = Query(..., description="quantity id (pm2_5, temperature, ...); several allowed"),
    start: str | None = Query(None, description="ISO 8601 time, inclusive; UTC when no offset"),
    end: str | None = Query(None, description="ISO 8601 time, exclusive; UTC when no offset"),
    format: Literal["json", "csv"] = Query("json"),
):
    devices = split_list(device)
    if not devices:
        raise bad_request("give at least one device, e.g. device=dcz-3f2a9c")
    quantities = parse_quantities(quantity)
    t0, t1 = parse_time(start, "start"), parse_time(end, "end")
    if t0 is not None and t1 is not None and t1 < t0:
        raise bad_request(f"end ({end}) is before start ({start})")
    chunks = store.iter_readings(devices, quantities, t0, t1)
    # counts the download (per reuser key when one was given; api/reuse.py checks it)
    chunks = public_download(store, devices, chunks, "readings", api_key=current_api_key.get())  # counts the download; hosts' private periods left out
    if format == "csv":
        return StreamingResponse(
            _csv_stream(chunks),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="readings.csv"'},
        )
    return StreamingResponse(_json_stream(chunks), media_type="application/json")
