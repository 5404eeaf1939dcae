"""GET /exhibition: the full-screen live page for a big screen (kiosk: no pointer, nothing to click).

The HTML carries everything it needs (styles, script, the QR code as SVG, the current readings as
JSON), so it works offline and paints at once; the script then follows `/api/v1/live`. Nothing is
fetched from elsewhere: system fonts only.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from html import escape
from pathlib import Path

import segno
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ..quantities import QUANTITIES
from . import content

router = APIRouter(include_in_schema=False)
ASSETS = Path(__file__).with_name("assets")


@dataclass(frozen=True)
class ExhibitionConfig:
    """How the page behaves; `datacityzen exhibition` sets it, `serve` uses the defaults."""

    public_url: str | None = None  # what the QR code opens; None: this server's home page
    devices: tuple[str, ...] | None = None  # only these kits; None: every kit heard lately
    recent_hours: float = 24.0  # without `devices`: kits with a reading in the last hours
    unplugged_after: float = 3.0  # a kit is "unplugged" after this many reading intervals without data
    min_unplugged_s: float = 20.0  # ... and never sooner than this
    rotate_s: float = 20.0  # seconds each explanation panel stays


def config_of(request: Request) -> ExhibitionConfig:
    return getattr(request.app.state, "exhibition", None) or ExhibitionConfig()


@lru_cache(maxsize=None)
def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


@lru_cache(maxsize=32)
def qr_svg(url: str) -> str:
    """The QR code of `url` as inline SVG that scales with its box (error correction M: 15 %)."""
    return segno.make(url, error="m").svg_inline(omitsize=True, border=2, dark="#0f1e26", light="#ffffff")


def page_data(config: ExhibitionConfig, snapshot: dict) -> dict:
    """What the script needs: the words, the quantities' labels and units, the settings, the snapshot."""
    quantities = {
        q: {"label": QUANTITIES[q]["label"], "unit": QUANTITIES[q]["unit"], "decimals": QUANTITIES[q]["decimals"],
            "display": content.DISPLAY.get(q)}
        for q in QUANTITIES
    }
    return {
        "text": content.TEXT,
        "topics": list(content.TOPICS),
        "tile_quantities": list(content.TILE_QUANTITIES),
        "quantities": quantities,
        "config": {
            "devices": list(config.devices) if config.devices else None,
            "recent_hours": config.recent_hours,
            "unplugged_after": config.unplugged_after,
            "min_unplugged_s": config.min_unplugged_s,
            "rotate_s": config.rotate_s,
        },
        "snapshot": snapshot,
    }


def render_page(config: ExhibitionConfig, snapshot: dict, public_url: str) -> str:
    data = json.dumps(page_data(config, snapshot), ensure_ascii=False, separators=(",", ":"))
    data = data.replace("</", "<\\/")  # keep "</script>" in any text from closing the element
    t = content.TEXT
    return f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>DataCityZen : {escape(t["title"]["fr"])} / {escape(t["title"]["en"])}</title>
<style>{_asset("exhibition.css")}</style>
</head>
<body class="connecting">
<header>
  <h1><span class="brand">DataCityZen</span> <span class="fr">{escape(t["title"]["fr"])}</span>
  <span class="en" lang="en">{escape(t["title"]["en"])}</span></h1>
  <p id="connection"><span class="dot"></span><span id="connection-text"></span></p>
  <p id="clock"></p>
</header>
<main>
  <section id="kits" aria-live="polite"></section>
  <aside>
    <article id="panel"></article>
    <div id="panel-dots"></div>
    <figure id="qr">{qr_svg(public_url)}
      <figcaption><span class="fr">{escape(t["open_data"]["fr"])}</span> ·
      <span class="en" lang="en">{escape(t["open_data"]["en"])}</span><br>
      <span id="public-url">{escape(public_url)}</span></figcaption>
    </figure>
  </aside>
</main>
<footer id="your-turn"><span class="fr">{escape(t["your_turn"]["fr"])}</span>
<span class="en" lang="en">{escape(t["your_turn"]["en"])}</span></footer>
<div id="reaction" hidden></div>
<script id="dcz-data" type="application/json">{data}</script>
<script>{_asset("exhibition.js")}</script>
</body></html>"""


@router.get("/exhibition", response_class=HTMLResponse)
def exhibition(request: Request) -> HTMLResponse:
    config = config_of(request)
    devices = set(config.devices) if config.devices else None
    recent = None if devices else timedelta(hours=config.recent_hours)
    snapshot = request.app.state.live.snapshot(devices, recent)
    public_url = config.public_url or str(request.base_url)
    return HTMLResponse(render_page(config, snapshot, public_url),
                        headers={"Cache-Control": "no-store", "Content-Language": "fr, en"})
