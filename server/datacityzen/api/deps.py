"""Dependencies shared by the routers, in one place so route signatures read like prose."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from ..quantities import QUANTITIES


def get_store(request: Request):
    return request.app.state.store


StoreDep = Annotated[object, Depends(get_store)]


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
    except ValueError:
        raise bad_request(f"{name}={value!r} is not an ISO 8601 time (e.g. 2026-11-23T08:00:00Z)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc)


def iso_utc(t: datetime | None) -> str | None:
    """A stored (naive UTC) time as ISO 8601 with a Z suffix."""
    if t is None:
        return None
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc).replace(tzinfo=None)
    return t.isoformat(timespec="microseconds" if t.microsecond else "seconds") + "Z"
