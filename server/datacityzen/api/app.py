"""The FastAPI application: routers for each resource, the store in app.state."""
from __future__ import annotations

from fastapi import FastAPI

from .. import __version__
from ..web import atlas as atlas_page
from ..web import embed as embed_page
from ..web import home
from ..web import requests_board as requests_page
from . import airrohr, areas, atlas, devices, readings, requests_board, reuse, subscriptions


def create_app(store) -> FastAPI:
    app = FastAPI(
        title="DataCityZen",
        version=__version__,
        description="Citizen environmental sensing: devices, raw readings and exports.",
    )
    app.state.store = store
    app.include_router(devices.router)
    app.include_router(readings.router)
    app.include_router(areas.router)
    app.include_router(home.router)
    # The ecosystem around the data (issue 10): peers' ingest formats, atlas, request board, reuse, widgets.
    for router in (airrohr.router, atlas.router, atlas_page.router, requests_board.router, requests_page.router,
                   reuse.router, subscriptions.router, embed_page.router):
        app.include_router(router)
    app.add_middleware(reuse.LicenceMiddleware, store=store)
    return app
