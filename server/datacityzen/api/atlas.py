"""GET /api/v1/atlas.geojson: devices (snapped), places, and coverage per area."""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from .. import atlas
from .deps import StoreDep

router = APIRouter(prefix="/api/v1", tags=["atlas"])


@router.get("/atlas.geojson", summary="The atlas as a GeoJSON FeatureCollection",
            description="Devices at their public (snapped) locations, fablabs, public digital spaces, "
                        "exhibition stops and partners, and per-area coverage (layer 'coverage').")
def atlas_geojson(store: StoreDep):
    return JSONResponse(atlas.feature_collection(store), media_type="application/geo+json")
