"""The atlas: devices at their public (snapped) locations, the places that run workshops or host the
exhibition, partners, and a coverage indicator that shows where data is missing.

Places come from a data file the mediators edit (`datacityzen atlas import FILE`): a GeoJSON
FeatureCollection of Points, or a CSV with the columns `id,kind,name,lat,lon[,address,url,workshops,
description_fr,description_en]`. Every problem names the feature or line and the key, in English and
French; a file with any problem imports nothing.

Coverage: for each area the operator imported (communes, districts; `/api/v1/areas`), the devices
active in the last 24 hours whose public location lies inside, per 100 km². `none` (no active device),
`sparse` (below `COVERED_PER_100KM2`) or `covered`; the summary per area kind (e.g. urban against rural)
says where the network is thin.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
from datetime import datetime, timedelta, timezone

import numpy as np

KINDS = {
    "fablab": {"en": "Fablab", "fr": "Fablab"},
    "public_digital_space": {"en": "Public digital space", "fr": "Espace public numérique"},
    "exhibition_stop": {"en": "Exhibition stop", "fr": "Étape de l'exposition"},
    "partner": {"en": "Partner", "fr": "Partenaire"},
}
ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
MAX_PLACES = 5000
ACTIVE_WITHIN = timedelta(hours=24)
COVERED_PER_100KM2 = 1.0  # one active device per 100 km² (a 10 km grid), the density the issue calls rural coverage
EARTH_RADIUS_KM = 6371.0088  # IUGG mean Earth radius


class AtlasFileError(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def _problem(where: str, en: str, fr: str) -> str:
    return f"{where}: {en} / {fr}"


def _place(raw: dict, where: str, problems: list[str]) -> dict | None:
    out: dict = {}
    pid = str(raw.get("id") or "").strip()
    if not ID_RE.fullmatch(pid):
        problems.append(_problem(f"{where}.id", "give an id of 1-64 letters, digits, _ . : -",
                                 "donnez un identifiant de 1 à 64 lettres, chiffres, _ . : -"))
    kind = str(raw.get("kind") or "").strip()
    if kind not in KINDS:
        problems.append(_problem(f"{where}.kind", f"{kind!r} is not one of {', '.join(KINDS)}",
                                 f"{kind!r} n'est pas parmi {', '.join(KINDS)}"))
    name = " ".join(str(raw.get("name") or "").split())
    if not 1 <= len(name) <= 120:
        problems.append(_problem(f"{where}.name", "give a name of 1 to 120 characters",
                                 "donnez un nom de 1 à 120 caractères"))
    try:
        lat, lon = float(raw.get("lat")), float(raw.get("lon"))
        if not (math.isfinite(lat) and -90 <= lat <= 90 and math.isfinite(lon) and -180 <= lon <= 180):
            raise ValueError
    except (TypeError, ValueError):
        problems.append(_problem(f"{where}.lat/lon", "latitude -90..90 and longitude -180..180 needed",
                                 "latitude -90..90 et longitude -180..180 requises"))
        lat = lon = None
    for key in ("address", "url"):
        value = str(raw.get(key) or "").strip()
        if len(value) > 300:
            problems.append(_problem(f"{where}.{key}", "at most 300 characters", "300 caractères au plus"))
        if key == "url" and value and not re.match(r"https?://", value):
            problems.append(_problem(f"{where}.url", "must start with http:// or https://",
                                     "doit commencer par http:// ou https://"))
        if value:
            out[key] = value
    workshops = raw.get("workshops", False)
    if isinstance(workshops, str):
        workshops = workshops.strip().lower() in ("1", "true", "yes", "oui")
    out["workshops"] = bool(workshops)
    desc = raw.get("description") if isinstance(raw.get("description"), dict) else {}
    description = {lang: str(desc.get(lang) or raw.get(f"description_{lang}") or "").strip() for lang in ("fr", "en")}
    if any(len(v) > 1000 for v in description.values()):
        problems.append(_problem(f"{where}.description", "at most 1000 characters", "1000 caractères au plus"))
    out["description"] = description
    if lat is None:
        return None
    return {"id": pid, "kind": kind, "name": name, "lat": round(lat, 6), "lon": round(lon, 6), **out}


def parse_places(text: str, filename: str = "") -> list[dict]:
    """Places from a GeoJSON FeatureCollection or a CSV; AtlasFileError lists every problem."""
    problems: list[str] = []
    raws: list[tuple[str, dict]] = []
    stripped = text.lstrip("\ufeff").lstrip()
    if stripped.startswith("{") or filename.endswith((".geojson", ".json")):
        try:
            doc = json.loads(stripped)
        except ValueError as exc:
            raise AtlasFileError([_problem(filename or "file", f"not valid JSON ({exc})", "JSON invalide")]) from None
        if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
            raise AtlasFileError([_problem(filename or "file", "expected a GeoJSON FeatureCollection",
                                           "une FeatureCollection GeoJSON est attendue")])
        for i, f in enumerate(doc["features"]):
            where = f"features[{i}]"
            geom = f.get("geometry") if isinstance(f, dict) else None
            props = f.get("properties") if isinstance(f, dict) else None
            if not isinstance(geom, dict) or geom.get("type") != "Point" or not isinstance(geom.get("coordinates"), list) \
                    or len(geom["coordinates"]) < 2 or not isinstance(props, dict):
                problems.append(_problem(where, "expected a Feature with a Point geometry and properties",
                                         "une Feature avec une géométrie Point et des propriétés est attendue"))
                continue
            raws.append((where, {**props, "id": props.get("id", f.get("id")),
                                 "lon": geom["coordinates"][0], "lat": geom["coordinates"][1]}))
    else:
        reader = csv.DictReader(io.StringIO(stripped))
        missing = {"id", "kind", "name", "lat", "lon"} - set(reader.fieldnames or ())
        if missing:
            raise AtlasFileError([_problem(filename or "file", f"CSV header lacks {', '.join(sorted(missing))}",
                                           f"il manque à l'en-tête CSV {', '.join(sorted(missing))}")])
        for n, row in enumerate(reader, start=2):
            raws.append((f"line {n}", row))
    if len(raws) > MAX_PLACES:
        raise AtlasFileError([_problem(filename or "file", f"more than {MAX_PLACES} places", f"plus de {MAX_PLACES} lieux")])
    places, seen = [], {}
    for where, raw in raws:
        pid = str(raw.get("id") or "").strip()
        if pid and pid in seen:
            problems.append(_problem(f"{where}.id", f"{pid!r} already used at {seen[pid]}",
                                     f"{pid!r} déjà utilisé en {seen[pid]}"))
        seen.setdefault(pid, where)
        p = _place(raw, where, problems)
        if p is not None:
            places.append(p)
    if problems:
        raise AtlasFileError(problems)
    return places


def polygon_area_km2(polygons: tuple) -> float:
    """Area of polygons (rings of lon/lat) on the sphere, by the shoelace formula on an equal-area
    (cylindrical, Lambert) projection: x = R·λ, y = R·sin φ. Holes are subtracted."""
    total = 0.0
    for poly in polygons:
        for k, ring in enumerate(poly):
            x = np.radians(ring[:, 0]) * EARTH_RADIUS_KM
            y = np.sin(np.radians(ring[:, 1])) * EARTH_RADIUS_KM
            a = abs(0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
            total += a if k == 0 else -a
    return total


def level(per_100km2: float, active: int) -> str:
    if active == 0:
        return "none"
    return "covered" if per_100km2 >= COVERED_PER_100KM2 else "sparse"


def coverage(store, devices: list[dict], now: datetime | None = None) -> dict:
    """Per imported area: active devices inside, km², density and level; a summary per area kind."""
    from .consolidation.geometry import contains, polygons_of
    from .store.consolidated import for_store

    now = (now or datetime.now(timezone.utc)).replace(tzinfo=None)
    active = [d for d in devices if d["last_seen"] is not None and now - d["last_seen"] <= ACTIVE_WITHIN]
    lon = np.array([d["lon"] for d in active], float)
    lat = np.array([d["lat"] for d in active], float)
    areas_out, by_kind = [], {}
    cons = for_store(store)
    for a in cons.areas():
        full = cons.area(a["id"])
        polys = polygons_of(full["geometry"], a["id"])
        n = int(contains(polys, lon, lat).sum()) if len(active) else 0
        km2 = polygon_area_km2(polys)
        density = 100.0 * n / km2 if km2 > 0 else 0.0
        areas_out.append({"id": a["id"], "name": full["name"], "kind": full["kind"], "geometry": full["geometry"],
                          "active_devices": n, "km2": round(km2, 2), "per_100km2": round(density, 3),
                          "level": level(density, n)})
        k = by_kind.setdefault(full["kind"], {"areas": 0, "without_data": 0, "active_devices": 0, "km2": 0.0})
        k["areas"] += 1
        k["without_data"] += n == 0
        k["active_devices"] += n
        k["km2"] += km2
    for k in by_kind.values():
        k["per_100km2"] = round(100.0 * k["active_devices"] / k["km2"], 3) if k["km2"] > 0 else 0.0
        k["km2"] = round(k["km2"], 2)
    return {"areas": areas_out, "by_kind": by_kind, "active_within_hours": ACTIVE_WITHIN.total_seconds() / 3600,
            "covered_per_100km2": COVERED_PER_100KM2}


def feature_collection(store, now: datetime | None = None) -> dict:
    """The atlas as GeoJSON (RFC 7946): device points (snapped), places, coverage polygons."""
    from .store.atlas_places import AtlasPlaces

    atlas = AtlasPlaces.of(store)
    devices = atlas.public_devices()
    now_naive = (now or datetime.now(timezone.utc)).replace(tzinfo=None)
    features = []
    for d in devices:
        active = d["last_seen"] is not None and now_naive - d["last_seen"] <= ACTIVE_WITHIN
        features.append({"type": "Feature", "id": f"device:{d['id']}",
                         "geometry": {"type": "Point", "coordinates": [d["lon"], d["lat"]]},
                         "properties": {"layer": "device", "id": d["id"], "kit": d["kit"], "active": active,
                                        "location": "snapped"}})
    for p in atlas.all():
        props = {k: v for k, v in p.items() if k not in ("lat", "lon")}
        features.append({"type": "Feature", "id": f"place:{p['id']}",
                         "geometry": {"type": "Point", "coordinates": [p["lon"], p["lat"]]},
                         "properties": {"layer": "place", "label": KINDS[p["kind"]], **props}})
    cov = coverage(store, devices, now)
    for a in cov["areas"]:
        features.append({"type": "Feature", "id": f"area:{a['id']}", "geometry": a["geometry"],
                         "properties": {"layer": "coverage", **{k: v for k, v in a.items() if k != "geometry"}}})
    return {"type": "FeatureCollection", "features": features,
            "coverage": {"by_kind": cov["by_kind"], "active_within_hours": cov["active_within_hours"],
                         "covered_per_100km2": cov["covered_per_100km2"]}}
