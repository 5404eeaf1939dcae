"""The first page: devices and their latest readings, in French or English, no JavaScript, no CDN."""
from __future__ import annotations

from datetime import datetime, timezone
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ..api.devices import device_summaries
from ..quantities import QUANTITIES

router = APIRouter(include_in_schema=False)
ORDER = {q: i for i, q in enumerate(QUANTITIES)}  # the registry's order: particles first

TEXT = {
    "en": {
        "title": "DataCityZen: live sensors",
        "intro": "Citizen sensor kits and their latest readings. The page refreshes every 10 seconds.",
        "none": "No device has published yet. Start one with: datacityzen sim",
        "device": "Device",
        "kit": "Kit",
        "last_seen": "Last seen",
        "readings": "readings stored",
        "ago": "{n} s ago",
        "switch": "Français",
        "data": "Download (CSV)",
        "flags": "flags",
    },
    "fr": {
        "title": "DataCityZen : capteurs en direct",
        "intro": "Les kits de capteurs citoyens et leurs dernières mesures. La page se met à jour toutes les 10 secondes.",
        "none": "Aucun capteur n'a encore publié. Lancez-en un avec : datacityzen sim",
        "device": "Capteur",
        "kit": "Kit",
        "last_seen": "Vu pour la dernière fois",
        "readings": "mesures enregistrées",
        "ago": "il y a {n} s",
        "switch": "English",
        "data": "Télécharger (CSV)",
        "flags": "indicateurs",
    },
}


def pick_language(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in TEXT:
        return asked
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in TEXT:
            return code
    return "fr"


def format_number(value: float, decimals: int, lang: str) -> str:
    text = f"{value:,.{decimals}f}"
    if lang == "fr":  # 1 013,2 in French typography (narrow no-break space for thousands)
        text = text.replace(",", "\u202f").replace(".", ",")
    return text


def _ago(iso: str | None, lang: str) -> str:
    if not iso:
        return "–"
    t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    seconds = max(0, int((datetime.now(timezone.utc) - t).total_seconds()))
    return TEXT[lang]["ago"].format(n=seconds)


def render_home(devices: list[dict], lang: str) -> str:
    t = TEXT[lang]
    other = "en" if lang == "fr" else "fr"
    cards = []
    for d in devices:
        rows = []
        ordered = sorted(d["latest"].items(), key=lambda kv: ORDER.get(kv[0], len(ORDER)))
        for q, v in ordered:
            meta = QUANTITIES.get(q, {"unit": "", "label": {lang: q}, "decimals": 1})
            flags = f' <small class="flags">({t["flags"]}: {escape(", ".join(v["flags"]))})</small>' if v["flags"] else ""
            rows.append(
                f'<tr data-quantity="{escape(q)}"><th>{escape(meta["label"][lang])}</th>'
                f'<td class="value">{format_number(v["value"], meta["decimals"], lang)}</td>'
                f'<td class="unit">{escape(meta["unit"])}{flags}</td></tr>'
            )
        csv_link = f"/api/v1/readings?device={d['id']}&quantity={','.join(d['latest']) or 'pm2_5'}&format=csv"
        cards.append(
            f'<section class="device" data-device="{escape(d["id"])}">'
            f'<h2>{t["device"]} {escape(d["id"])}</h2>'
            f'<p class="meta">{t["kit"]} {escape(d["kit"] or "?")} · {t["last_seen"]} {_ago(d["last_seen"], lang)}'
            f' · {d["readings"]} {t["readings"]}</p>'
            f'<table>{"".join(rows)}</table>'
            f'<p><a href="{escape(csv_link)}">{t["data"]}</a></p></section>'
        )
    body = "".join(cards) or f'<p class="empty">{t["none"]}</p>'
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="10">
<title>{t["title"]}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#1b2b34;background:#f6f8f5}}
h1{{font-size:1.5rem}} .device{{background:#fff;border-radius:.5rem;padding:.5rem 1rem;margin:1rem 0;box-shadow:0 1px 3px #0002}}
table{{border-collapse:collapse}} th{{text-align:left;font-weight:normal;padding:.2rem 1rem .2rem 0}}
td.value{{font-size:1.3rem;font-weight:600;text-align:right}} td.unit{{padding-left:.4rem;color:#456}}
.meta{{color:#567;font-size:.9rem}} nav{{float:right}}
</style></head>
<body><nav><a href="?lang={other}">{t["switch"]}</a></nav>
<h1>{t["title"]}</h1><p>{t["intro"]}</p>{body}</body></html>"""


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    lang = pick_language(request)
    devices = device_summaries(request.app.state.store)
    return HTMLResponse(render_home(devices, lang), headers={"Content-Language": lang})
