"""Areas (communes, districts) from GeoJSON, and which points lie inside them. Pure numpy.

GeoJSON (RFC 7946) positions are [longitude, latitude] in WGS84. A Polygon is a list of linear rings,
the first the outer boundary and the others holes; a MultiPolygon a list of polygons. Point in polygon
is the even-odd ray-crossing rule, vectorised over points and edges: a point is inside a polygon when
it is inside its outer ring and in none of its holes.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np

_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class GeometryError(ValueError):
    pass


@dataclass(frozen=True)
class Area:
    id: str
    name: str
    kind: str
    polygons: tuple  # of tuples of rings, each ring an (n, 2) array of (lon, lat)
    geometry: dict  # the GeoJSON geometry as given

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(min_lon, min_lat, max_lon, max_lat)."""
        pts = np.vstack([poly[0] for poly in self.polygons])
        return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())


def _ring(coords, where: str) -> np.ndarray:
    try:
        ring = np.asarray(coords, dtype=np.float64)
    except (TypeError, ValueError):
        raise GeometryError(f"{where}: a ring must be a list of [longitude, latitude] numbers") from None
    if ring.ndim != 2 or ring.shape[1] < 2 or ring.shape[0] < 4:
        raise GeometryError(f"{where}: a ring needs at least 4 positions [longitude, latitude]")
    ring = ring[:, :2]
    if not np.isfinite(ring).all() or (np.abs(ring[:, 0]) > 180).any() or (np.abs(ring[:, 1]) > 90).any():
        raise GeometryError(f"{where}: positions must be [longitude, latitude] within ±180, ±90")
    return ring


def polygons_of(geometry: dict, where: str) -> tuple:
    if not isinstance(geometry, dict):
        raise GeometryError(f"{where}: geometry missing")
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    if kind == "Polygon":
        polys = [coords]
    elif kind == "MultiPolygon":
        polys = coords
    else:
        raise GeometryError(f"{where}: geometry type {kind!r} is not Polygon or MultiPolygon")
    if not isinstance(polys, list) or not polys:
        raise GeometryError(f"{where}: no coordinates")
    out = []
    for pi, poly in enumerate(polys):
        if not isinstance(poly, list) or not poly:
            raise GeometryError(f"{where}: polygon {pi} has no rings")
        out.append(tuple(_ring(r, f"{where}, polygon {pi}, ring {ri}") for ri, r in enumerate(poly)))
    return tuple(out)


def parse_feature_collection(text: str, id_property: str | None = None, name_property: str | None = None,
                             kind: str = "area") -> list[Area]:
    """Areas from a GeoJSON FeatureCollection; ids from `id_property` (else the feature id)."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise GeometryError(f"not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise GeometryError("expected a GeoJSON FeatureCollection")
    features = doc.get("features")
    if not isinstance(features, list) or not features:
        raise GeometryError("the FeatureCollection has no features")
    areas, seen = [], set()
    for i, feat in enumerate(features):
        where = f"feature {i}"
        if not isinstance(feat, dict):
            raise GeometryError(f"{where}: not an object")
        props = feat.get("properties") or {}
        raw_id = props.get(id_property) if id_property else feat.get("id", props.get("id"))
        if raw_id is None:
            raise GeometryError(f"{where}: no id (give --id-property, e.g. the INSEE code property)")
        aid = str(raw_id)
        if not _ID_RE.fullmatch(aid):
            raise GeometryError(f"{where}: id {aid!r} must be 1-64 characters of letters, digits, _ . : -")
        if aid in seen:
            raise GeometryError(f"{where}: id {aid!r} appears twice")
        seen.add(aid)
        name = str(props.get(name_property) if name_property else props.get("name", props.get("nom", aid)))
        areas.append(Area(aid, name, kind, polygons_of(feat.get("geometry"), where), feat["geometry"]))
    return areas


def _in_ring(lon: np.ndarray, lat: np.ndarray, ring: np.ndarray) -> np.ndarray:
    x1, y1 = ring[:-1, 0], ring[:-1, 1]
    x2, y2 = ring[1:, 0], ring[1:, 1]
    px, py = lon[:, None], lat[:, None]
    straddles = (y1 > py) != (y2 > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
    crossings = straddles & (px < x_cross)
    return (crossings.sum(axis=1) % 2) == 1


def contains(polygons: tuple, lon, lat) -> np.ndarray:
    """Boolean mask of the points (lon, lat) inside the (multi)polygon."""
    lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    inside = np.zeros(lon.size, dtype=bool)
    for poly in polygons:
        outer = poly[0]
        if not np.array_equal(outer[0], outer[-1]):
            outer = np.vstack([outer, outer[:1]])
        hit = _in_ring(lon, lat, outer)
        for hole in poly[1:]:
            if not np.array_equal(hole[0], hole[-1]):
                hole = np.vstack([hole, hole[:1]])
            hit &= ~_in_ring(lon, lat, hole)
        inside |= hit
    return inside & np.isfinite(lon) & np.isfinite(lat)
