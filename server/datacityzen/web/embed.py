"""Embeddable widgets: `/embed/device/<id>` and `/embed/area/<id>` (HTML for an iframe) and the same with
`.svg` (a badge for an <img>). No cookies, no scripts, no third-party requests; framing allowed from any
site (frame-ancestors *), no referrer sent onwards, cached for a minute."""
from __future__ import annotations

from html import escape

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from .. import embed
from .home import format_number, pick_language

router = APIRouter(include_in_schema=False)
DEVICE_ID = Path(..., pattern=r"^[a-z0-9-]{3,40}$")
AREA_ID = Path(..., pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors *",
           "Referrer-Policy": "no-referrer", "Cache-Control": "public, max-age=60", "X-Content-Type-Options": "nosniff"}
LEVEL_COLOURS = ("#50f0e6", "#50ccaa", "#f0e641", "#ff5050", "#960032", "#7d2181")  # EEA index colours
TEXT = {"en": {"index": "European air quality index (indicative, latest value)", "none": "No recent public data",
               "unknown": "Unknown", "proxy": "proxy", "area": "Area", "devices": "sensors", "src": "DataCityZen · ODbL"},
        "fr": {"index": "Indice européen de qualité de l'air (indicatif, dernière valeur)", "none": "Pas de donnée publique récente",
               "unknown": "Inconnu", "proxy": "indicateur", "area": "Zone", "devices": "capteurs", "src": "DataCityZen · ODbL"}}


def _html(lang: str, title: str, values: dict, subtitle: str = "") -> str:
    t = TEXT[lang]
    level = embed.eu_level(values)
    rows = "".join(
        f'<tr data-quantity="{q}"><th>{escape(meta["label"][lang])}{" (" + t["proxy"] + ")" if q == "pollen_proxy" else ""}</th>'
        f'<td class="value">{format_number(v, meta["decimals"], lang)}</td><td>{escape(meta["unit"])}</td></tr>'
        for q, v, meta in embed.shown(values))
    badge = (f'<p class="index level-{level[1]}" style="background:{LEVEL_COLOURS[level[0]]}">'
             f'<strong>{escape(level[3] if lang == "fr" else level[2])}</strong><br><small>{t["index"]}</small></p>'
             if level else "")
    body = f"{badge}<table>{rows}</table>" if rows else f'<p class="empty">{t["none"]}</p>'
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>'
            f'body{{font-family:system-ui,sans-serif;margin:0;padding:.5rem;font-size:14px;color:#1b2b34}}'
            f'h1{{font-size:1rem;margin:0 0 .3rem}} .index{{padding:.3rem .5rem;border-radius:.3rem;margin:.3rem 0}}'
            f'td.value{{font-weight:600;text-align:right;padding:0 .3rem}} th{{text-align:left;font-weight:normal}}'
            f'footer{{color:#678;font-size:11px}}</style></head><body><h1>{escape(title)}</h1>{subtitle}{body}'
            f'<footer>{t["src"]}</footer></body></html>')


def _svg(label: str, values: dict, lang: str) -> str:
    level = embed.eu_level(values)
    if "pm2_5" in values:
        text = f"PM2.5 {format_number(values['pm2_5']['value'], 1, lang)} µg/m³"
    elif "pollen_proxy" in values:
        text = f"{TEXT[lang]['proxy']} pollen {format_number(values['pollen_proxy']['value'], 2, lang)}"
    else:
        text = TEXT[lang]["none"]
    colour = LEVEL_COLOURS[level[0]] if level else "#9aa"
    lw, rw = 7 * len(label) + 12, 7 * len(text) + 12
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{lw + rw}" height="20" role="img" aria-label="{escape(label)}: {escape(text)}">'
            f'<title>{escape(label)}: {escape(text)}</title><rect width="{lw}" height="20" fill="#1b2b34"/>'
            f'<rect x="{lw}" width="{rw}" height="20" fill="{colour}"/>'
            f'<g font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
            f'<text x="6" y="14" fill="#fff">{escape(label)}</text><text x="{lw + 6}" y="14" fill="#000">{escape(text)}</text></g></svg>')


def _not_found(lang: str, svg: bool):
    if svg:
        return Response(_svg(TEXT[lang]["unknown"], {}, lang), status_code=404, media_type="image/svg+xml", headers=HEADERS)
    return HTMLResponse(_html(lang, TEXT[lang]["unknown"], {}), status_code=404, headers=HEADERS)


@router.get("/embed/device/{device}.svg")
def device_badge(request: Request, device: str = DEVICE_ID):
    lang = pick_language(request)
    values = embed.public_latest(request.app.state.store, device)
    if values is None:
        return _not_found(lang, True)
    return Response(_svg(device, values, lang), media_type="image/svg+xml", headers=HEADERS)


@router.get("/embed/device/{device}")
def device_widget(request: Request, device: str = DEVICE_ID):
    lang = pick_language(request)
    values = embed.public_latest(request.app.state.store, device)
    if values is None:
        return _not_found(lang, False)
    return HTMLResponse(_html(lang, device, values), headers={**HEADERS, "Content-Language": lang})


@router.get("/embed/area/{area_id}.svg")
def area_badge(request: Request, area_id: str = AREA_ID):
    lang = pick_language(request)
    found = embed.area_latest(request.app.state.store, area_id)
    if found is None:
        return _not_found(lang, True)
    return Response(_svg(found["name"], found["values"], lang), media_type="image/svg+xml", headers=HEADERS)


@router.get("/embed/area/{area_id}")
def area_widget(request: Request, area_id: str = AREA_ID):
    lang = pick_language(request)
    found = embed.area_latest(request.app.state.store, area_id)
    if found is None:
        return _not_found(lang, False)
    t = TEXT[lang]
    sub = f'<p class="muted">{t["area"]} · {found["devices"]} {t["devices"]}</p>'
    return HTMLResponse(_html(lang, found["name"], found["values"], sub), headers={**HEADERS, "Content-Language": lang})
