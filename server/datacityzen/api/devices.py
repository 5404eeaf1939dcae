"""GET /api/v1/devices and GET /api/v1/health."""
from __future__ import annotations

from fastapi import APIRouter, Request

from .. import __version__
from .deps import StoreDep, iso_utc

router = APIRouter(prefix="/api/v1", tags=["devices"])


def _hidden_periods(store) -> dict:
    """Periods hosts keep private (publication paused, deleted): public summaries leave them out."""
    if not hasattr(store, "_con"):
        return {}
    from ..store.registry import Registry

    return Registry.of(store).hidden_periods()


def device_summaries(store) -> list[dict]:
    out = []
    hidden = _hidden_periods(store)
    for d in store.devices():
        latest = store.latest_values(d["id"])
        periods = hidden.get(d["id"], ())
        latest = {q: v for q, v in latest.items()
                  if not any(s <= v["time"] and (e is None or v["time"] < e) for s, e in periods)}
        out.append(
            {
                "id": d["id"],
                "kit": d["kit"],
                "firmware": d["firmware"],
                "state": d["state"],
                "first_seen": iso_utc(d["first_seen"]),
                "last_seen": iso_utc(d["last_seen"]),
                "readings": d["readings"],
                "latest": {
                    q: {"value": v["value"], "time": iso_utc(v["time"]), "flags": v["flags"]}
                    for q, v in latest.items()
                },
            }
        )
    return out


@router.get("/devices", summary="Devices with their latest readings")
def list_devices(store: StoreDep) -> list[dict]:
    return device_summaries(store)


@router.get("/health", summary="Liveness and ingest counters")
def health(request: Request) -> dict:
    out = {"status": "ok", "version": __version__}
    mirror = getattr(request.app.state, "mirror", None)
    if mirror is not None:  # the time-series mirror's outbox (store/influx_writer.py): counts only
        out["timeseries"] = mirror.stats()
    return out
