"""The atlas page: a server-rendered SVG map (no tiles, no CDN) of devices, places and coverage, then the
places and the coverage as tables. French and English; kept for offline use by a service worker."""
from __future__ import annotations

import math
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from .. import atlas
from .home import pick_language
from .page_shell import page, service_worker

router = APIRouter(include_in_schema=False)

TEXT = {
    "en": {"title": "Atlas of the network", "switch": "Français",
           "intro": "Sensors (shown at their public, rounded location), places that run workshops, exhibition stops and partners. Coloured areas show where data is missing.",
           "places": "Places", "coverage": "Coverage", "kind": "Kind", "name": "Name", "workshops": "Workshops",
           "yes": "yes", "no": "no", "area": "Area", "active": "Active sensors", "density": "per 100 km²",
           "level": "Coverage", "none": "no data", "sparse": "sparse", "covered": "covered",
           "by_kind": "By kind of area", "without": "areas without data", "devices": "sensors",
           "no_areas": "No areas imported yet: coverage needs them (datacityzen consolidate import-areas).",
           "legend_device": "sensor (active)", "legend_idle": "sensor (silent for 24 h)", "empty": "Nothing on the atlas yet."},
    "fr": {"title": "Atlas du réseau", "switch": "English",
           "intro": "Les capteurs (à leur position publique, arrondie), les lieux qui animent des ateliers, les étapes de l'exposition et les partenaires. Les zones colorées montrent où les données manquent.",
           "places": "Lieux", "coverage": "Couverture", "kind": "Type", "name": "Nom", "workshops": "Ateliers",
           "yes": "oui", "no": "non", "area": "Zone", "active": "Capteurs actifs", "density": "pour 100 km²",
           "level": "Couverture", "none": "aucune donnée", "sparse": "clairsemée", "covered": "couverte",
           "by_kind": "Par type de zone", "without": "zones sans données", "devices": "capteurs",
           "no_areas": "Aucune zone importée : la couverture en a besoin (datacityzen consolidate import-areas).",
           "legend_device": "capteur (actif)", "legend_idle": "capteur (muet depuis 24 h)", "empty": "Rien sur l'atlas pour l'instant."},
}
LEVEL_FILL = {"none": "#f4a6a6", "sparse": "#f8d98b", "covered": "#a8d8a0"}
KIND_COLOUR = {"fablab": "#7b3fa0", "public_digital_space": "#1f6fb2", "exhibition_stop": "#c25e00", "partner": "#4a5a66"}
W, H, PAD = 640, 420, 16


def _points(fc: dict):
    for f in fc["features"]:
        g = f["geometry"]
        if g["type"] == "Point":
            yield g["coordinates"]
        elif g["type"] == "Polygon":
            for ring in g["coordinates"]:
                yield from ring
        elif g["type"] == "MultiPolygon":
            for poly in g["coordinates"]:
                for ring in poly:
                    yield from ring


def render_map(fc: dict, t: dict) -> str:
    pts = list(_points(fc))
    if not pts:
        return f'<p class="muted">{t["empty"]}</p>'
    lons, lats = [p[0] for p in pts], [p[1] for p in pts]
    lon0, lon1, lat0, lat1 = min(lons), max(lons), min(lats), max(lats)
    kx = math.cos(math.radians((lat0 + lat1) / 2))  # equirectangular at the mean latitude
    span_x, span_y = max((lon1 - lon0) * kx, 1e-3), max(lat1 - lat0, 1e-3)
    scale = min((W - 2 * PAD) / span_x, (H - 2 * PAD) / span_y)

    def xy(lon, lat):
        return PAD + (lon - lon0) * kx * scale, H - PAD - (lat - lat0) * scale

    shapes = []
    for f in fc["features"]:
        p, g = f["properties"], f["geometry"]
        if p["layer"] != "coverage":
            continue
        polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
        d = " ".join("M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in (xy(*c) for c in ring)) + " Z"
                     for poly in polys for ring in poly)
        shapes.append(f'<path class="area level-{p["level"]}" data-area="{escape(p["id"])}" d="{d}" '
                      f'fill="{LEVEL_FILL[p["level"]]}" fill-rule="evenodd" stroke="#fff" stroke-width="1">'
                      f'<title>{escape(p["name"])}: {t[p["level"]]}</title></path>')
    for f in fc["features"]:
        p = f["properties"]
        x, y = xy(*f["geometry"]["coordinates"]) if f["geometry"]["type"] == "Point" else (0, 0)
        if p["layer"] == "device":
            fill = "#137a3a" if p["active"] else "#9aa"
            shapes.append(f'<circle class="device" data-device="{escape(p["id"])}" cx="{x:.1f}" cy="{y:.1f}" r="5" '
                          f'fill="{fill}" stroke="#fff"><title>{escape(p["id"])}</title></circle>')
        elif p["layer"] == "place":
            c = KIND_COLOUR.get(p["kind"], "#333")
            shapes.append(f'<rect class="place" data-place="{escape(p["id"])}" x="{x - 5:.1f}" y="{y - 5:.1f}" '
                          f'width="10" height="10" fill="{c}" transform="rotate(45 {x:.1f} {y:.1f})">'
                          f'<title>{escape(p["name"])}</title></rect>')
    return (f'<svg id="atlas-map" viewBox="0 0 {W} {H}" width="100%" role="img" aria-label="{escape(t["title"])}" '
            f'style="background:#eef3f6;border-radius:.5rem">{"".join(shapes)}</svg>')


def render_atlas(fc: dict, lang: str) -> str:
    t = TEXT[lang]
    legend = [f'<span><svg width="12" height="12"><circle cx="6" cy="6" r="5" fill="#137a3a"/></svg> {t["legend_device"]}</span>',
              f'<span><svg width="12" height="12"><circle cx="6" cy="6" r="5" fill="#9aa"/></svg> {t["legend_idle"]}</span>']
    legend += [f'<span><svg width="12" height="12"><rect x="1" y="1" width="10" height="10" fill="{c}"/></svg> '
               f'{escape(atlas.KINDS[k][lang])}</span>' for k, c in KIND_COLOUR.items()]
    legend += [f'<span><svg width="12" height="12"><rect width="12" height="12" fill="{c}"/></svg> {t[lvl]}</span>'
               for lvl, c in LEVEL_FILL.items()]
    places = [f["properties"] for f in fc["features"] if f["properties"]["layer"] == "place"]
    rows = "".join(
        f'<tr data-place="{escape(p["id"])}"><td>{escape(atlas.KINDS[p["kind"]][lang])}</td>'
        f'<td>{escape(p["name"])}' + (f' <a href="{escape(p["url"])}" rel="noopener">↗</a>' if p.get("url") else "")
        + f'<br><span class="muted">{escape(p.get("address", ""))} {escape(p["description"].get(lang, ""))}</span></td>'
        f'<td>{t["yes"] if p["workshops"] else t["no"]}</td></tr>' for p in places)
    areas = [f["properties"] for f in fc["features"] if f["properties"]["layer"] == "coverage"]
    cov_rows = "".join(
        f'<tr data-area="{escape(a["id"])}" class="level-{a["level"]}"><td>{escape(a["name"])}</td><td>{escape(a["kind"])}</td>'
        f'<td>{a["active_devices"]}</td><td>{a["per_100km2"]:.2f}</td><td>{t[a["level"]]}</td></tr>' for a in areas)
    kinds = "".join(f'<li data-kind="{escape(k)}">{escape(k)}: {v["active_devices"]} {t["devices"]}, '
                    f'{v["per_100km2"]:.2f} {t["density"]}, {v["without_data"]}/{v["areas"]} {t["without"]}</li>'
                    for k, v in fc["coverage"]["by_kind"].items())
    coverage = (f'<table id="coverage"><tr><th>{t["area"]}</th><th>{t["kind"]}</th><th>{t["active"]}</th>'
                f'<th>{t["density"]}</th><th>{t["level"]}</th></tr>{cov_rows}</table><h3>{t["by_kind"]}</h3><ul>{kinds}</ul>'
                if areas else f'<p class="muted">{t["no_areas"]}</p>')
    body = (f'<p>{t["intro"]}</p><div class="card">{render_map(fc, t)}<p class="muted legend">{" · ".join(legend)}</p></div>'
            f'<div class="card"><h2>{t["places"]}</h2><table id="places"><tr><th>{t["kind"]}</th><th>{t["name"]}</th>'
            f'<th>{t["workshops"]}</th></tr>{rows}</table></div>'
            f'<div class="card"><h2>{t["coverage"]}</h2>{coverage}</div>')
    return page(lang, t["title"], body, sw="/atlas/sw.js", switch=t["switch"])


@router.get("/atlas")
def atlas_redirect():
    return RedirectResponse("/atlas/", status_code=308)


@router.get("/atlas/", response_class=HTMLResponse)
def atlas_page(request: Request):
    lang = pick_language(request)
    fc = atlas.feature_collection(request.app.state.store)
    return HTMLResponse(render_atlas(fc, lang), headers={"Content-Language": lang})


@router.get("/atlas/sw.js")
def atlas_sw():
    return service_worker("/atlas/", "dcz-atlas-v1")
