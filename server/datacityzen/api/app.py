"""The FastAPI application: routers for each resource, the store in app.state."""
from __future__ import annotations

from fastapi import FastAPI

from .. import __version__
from ..web import home
from . import areas, devices, limits, readings


def create_app(store) -> FastAPI:
    app = FastAPI(
        title="DataCityZen",
        version=__version__,
        description="Citizen environmental sensing: devices, raw readings and exports.",
    )
    app.state.store = store
    limits.install(app)  # size and rate limits on every request (api/limits.py)
    app.include_router(devices.router)
    app.include_router(readings.router)
    app.include_router(areas.router)
    app.include_router(home.router)
    return app
