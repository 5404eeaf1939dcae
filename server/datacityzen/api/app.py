"""The FastAPI application: routers for each resource, the store in app.state."""
from __future__ import annotations

from fastapi import FastAPI

from .. import __version__
from ..exhibition import page as exhibition_page
from ..exhibition.feed import LiveFeed
from ..web import home
from . import areas, devices, live, readings


def create_app(store) -> FastAPI:
    app = FastAPI(
        title="DataCityZen",
        version=__version__,
        description="Citizen environmental sensing: devices, raw readings and exports.",
    )
    app.state.store = store
    app.state.live = LiveFeed(store)  # new readings for /api/v1/live; close() ends its streams
    app.include_router(devices.router)
    app.include_router(readings.router)
    app.include_router(areas.router)
    app.include_router(home.router)
    app.include_router(live.router)
    app.include_router(exhibition_page.router)
    return app
