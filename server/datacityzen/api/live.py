"""GET /api/v1/live: new readings as Server-Sent Events, for the exhibition screen and any live page.

Why Server-Sent Events rather than polling: one long-lived HTTP response per screen carries each new
reading within about half a second of its commit, browsers reconnect by themselves (`retry:`), and no
JavaScript library is needed. The stream starts with a snapshot of every device's latest values, so a
screen that reconnects (the laptop woke up, the server restarted) is whole again at once; a `tick`
event every TICK_S seconds carries the server's clock and lets a page notice a dead connection.
"""
from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import datetime, timedelta, timezone

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from .deps import bad_request, iso_utc, split_list

router = APIRouter(prefix="/api/v1", tags=["live"])

TICK_S = 5.0
RETRY_MS = 2000  # how long a browser waits before reconnecting
_DEVICE_RE = re.compile(r"[a-z0-9-]{3,40}")  # the wire format's device ids (ingest/wire_v1.py)


def sse(event: str, data: dict, event_id: str | None = None) -> str:
    """One Server-Sent Event (the data is one line of JSON)."""
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id else "")
    return head + "data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n\n"


def parse_devices(device: list[str] | None) -> set[str] | None:
    devices = split_list(device)
    bad = [d for d in devices if not _DEVICE_RE.fullmatch(d)]
    if bad:
        raise bad_request(
            f"device {bad[0]!r} is not a device id (3-40 characters a-z, 0-9, -) / "
            f"{bad[0]!r} n'est pas un identifiant de capteur (3 à 40 caractères a-z, 0-9, -)"
        )
    return set(devices) or None


async def event_stream(request: Request, devices: set[str] | None, recent: timedelta | None):
    feed = request.app.state.live
    loop = asyncio.get_running_loop()
    sub = await asyncio.to_thread(feed.subscribe, loop, devices, recent)
    try:
        yield f"retry: {RETRY_MS}\n\n"
        next_tick = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= next_tick:
                yield sse("tick", {"server_time": iso_utc(datetime.now(timezone.utc))})
                next_tick = now + TICK_S
            event = await sub.get(max(0.05, next_tick - time.monotonic()))
            if event is None:
                continue
            if event["event"] == "end":
                yield sse("end", {"reason": "server stopping or page too far behind; reconnect"})
                return
            yield sse(event["event"], event["data"], event.get("id"))
    finally:
        sub.close()


@router.get(
    "/live",
    summary="New readings as Server-Sent Events",
    description=(
        "`text/event-stream`: a `snapshot` event (every device's latest values, as /api/v1/devices, "
        "with `kit_name`, `interval_s` and `last_time`), then one `reading` event per new reading "
        "(`values`, `flags`, `reactions`: sudden changes such as a clap or a breath), and a `tick` "
        f"event with the server time every {TICK_S:g} s. A backlog arriving at once is summarised as its "
        "newest reading (`backlog` counts the others): use /api/v1/readings for every value."
    ),
)
async def live(
    request: Request,
    device: list[str] | None = Query(None, description="only these devices (repeat or comma-separate)"),
    recent_hours: float | None = Query(
        None, gt=0, le=24 * 366, description="snapshot: only devices with a reading in the last hours"
    ),
):
    devices = parse_devices(device)
    recent = timedelta(hours=recent_hours) if recent_hours else None
    return StreamingResponse(
        event_stream(request, devices, recent),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
