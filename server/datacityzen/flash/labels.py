"""Labels for flashed boards: device id, kit, and the host's private link as a QR code (SVG and PNG).

The label goes on the kit's box; the host scans the code to open their station view. Without a
host link yet (registration queued while offline) the label says so, and the QR code is made when
the queue is sent.
"""
from __future__ import annotations

from html import escape
from pathlib import Path

import segno


def write_label(folder: Path, device_id: str, kit: dict, host_url: str | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    name = kit.get("name", {})
    kit_line = f"{kit['id']} - {name.get('fr', '')} / {name.get('en', '')}".strip(" -/")
    qr_svg = ""
    size = 240
    if host_url:
        qr = segno.make(host_url, error="m")
        qr.save(str(folder / f"{device_id}-qr.svg"), scale=4, border=2)
        qr.save(str(folder / f"{device_id}-qr.png"), scale=8, border=2)
        w, _ = qr.symbol_size(scale=4, border=2)
        # The QR code inline in the label, as a path (segno's SVG writer, without the XML header).
        inner = qr.svg_inline(scale=4, border=2)
        qr_svg = f'<g transform="translate({(size - w) // 2},70)">{inner}</g>'
        note = "Scannez pour voir votre station / Scan to see your station"
    else:
        note = "Lien à venir : inscription en attente / Link to come: registration queued"
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size + 90}" '
        f'viewBox="0 0 {size} {size + 90}" font-family="sans-serif">'
        f'<rect width="100%" height="100%" fill="#fff" stroke="#000"/>'
        f'<text x="10" y="26" font-size="18" font-weight="bold">{escape(device_id)}</text>'
        f'<text x="10" y="48" font-size="11">{escape(kit_line)}</text>'
        f"{qr_svg}"
        f'<text x="10" y="{size + 75}" font-size="10">{escape(note)}</text>'
        "</svg>"
    )
    path = folder / f"{device_id}-label.svg"
    path.write_text(svg, encoding="utf-8")
    return path
