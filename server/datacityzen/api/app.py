"""The FastAPI application: routers for each resource, the store in app.state."""
from __future__ import annotations

from fastapi import FastAPI

from .. import __version__
from ..web import home
from . import devices, readings, stats


def create_app(store) -> FastAPI:
    app = FastAPI(
        title="DataCityZen",
        version=__version__,
        description="Citizen environmental sensing: devices, raw and calibrated readings, statistics and uncapped exports.",
    )
    app.state.store = store
    app.include_router(devices.router)
    app.include_router(readings.router)
    app.include_router(stats.router)
    app.include_router(home.router)
    return app
