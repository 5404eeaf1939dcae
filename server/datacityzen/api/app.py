"""The FastAPI application: routers for each resource, the store in app.state."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from .. import __version__
from ..exhibition import page as exhibition_page
from ..exhibition.feed import LiveFeed
from ..settings import Settings
from ..store.registry import Registry
from ..web import atlas as atlas_page
from ..web import embed as embed_page
from ..web import home, host
from ..web import requests_board as requests_page
from . import (admin, airrohr, areas, atlas, devices, ingest_wire, limits, live, lorawan, readings, requests_board,
               reuse, stats, subscriptions)


def create_app(store, settings: Settings | None = None) -> FastAPI:
    app = FastAPI(
        title="DataCityZen",
        version=__version__,
        description="Citizen environmental sensing: devices, raw and calibrated readings, statistics and uncapped exports.",
    )
    app.state.store = store
    limits.install(app)  # size and rate limits on every request (api/limits.py)
    # Without settings (tests building an app around a store): no admin token, so the admin API
    # answers 403 until one is configured.
    app.state.settings = settings or Settings(data_dir=Path("."))
    app.state.registry = Registry.of(store)
    app.state.live = LiveFeed(store)  # new readings for /api/v1/live; close() ends its streams
    app.include_router(devices.router)
    app.include_router(readings.router)
    app.include_router(stats.router)
    app.include_router(areas.router)
    app.include_router(home.router)
    app.include_router(live.router)
    app.include_router(exhibition_page.router)
    app.include_router(admin.router)
    app.include_router(host.router)
    app.include_router(ingest_wire.router)  # devices' wire v1 uplinks over HTTP (bearer: their token)
    # The ecosystem around the data (issue 10): peers' ingest formats, atlas, request board, reuse, widgets.
    for router in (airrohr.router, lorawan.router, atlas.router, atlas_page.router, requests_board.router,
                   requests_page.router,
                   reuse.router, subscriptions.router, embed_page.router):
        app.include_router(router)
    app.add_middleware(reuse.LicenceMiddleware, store=store)
    return app
