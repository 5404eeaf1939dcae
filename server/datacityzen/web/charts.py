"""Small server-rendered SVG line charts: no JavaScript, no library, a few kilobytes each."""
from __future__ import annotations

from datetime import datetime, timezone
from html import escape

W, H = 600, 170
PAD_L, PAD_R, PAD_T, PAD_B = 46, 8, 10, 22


def _ts(t: datetime) -> float:
    """Seconds since the epoch; store times are naive UTC."""
    return (t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t).timestamp()


def _points(series, t0: float, t1: float, lo: float, hi: float) -> list[str]:
    span_t = max(1.0, t1 - t0)
    span_v = (hi - lo) or 1.0
    out = []
    for t, v in series:
        x = PAD_L + (W - PAD_L - PAD_R) * (_ts(t) - t0) / span_t
        y = PAD_T + (H - PAD_T - PAD_B) * (1 - (v - lo) / span_v)
        out.append(f"{x:.1f},{y:.1f}")
    return out


def _segments(series, gap_s: float):
    """Split a series where readings are missing, so a gap is drawn as a gap."""
    seg, prev = [], None
    for t, v in series:
        if prev is not None and (t - prev).total_seconds() > gap_s:
            yield seg
            seg = []
        seg.append((t, v))
        prev = t
    if seg:
        yield seg


def line_chart(series: list[tuple[datetime, float]], median: list[tuple[datetime, float]], start: datetime,
               end: datetime, bucket_s: int, label: str, fmt, tick_fmt, legend: tuple[str, str] | None) -> str:
    values = [v for _, v in series] + [v for _, v in median]
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    margin = (hi - lo) * 0.08
    lo, hi = lo - margin, hi + margin
    t0, t1 = _ts(start), _ts(end)
    parts = [f'<svg viewBox="0 0 {W} {H}" role="img" aria-label="{escape(label)}" class="chart">']
    for frac in (0.0, 0.5, 1.0):
        y = PAD_T + (H - PAD_T - PAD_B) * frac
        v = hi - (hi - lo) * frac
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" class="ytick">{escape(fmt(v))}</text>')
    parts.append(f'<text x="{PAD_L}" y="{H - 5}" class="xtick">{escape(tick_fmt(start))}</text>'
                 f'<text x="{W - PAD_R}" y="{H - 5}" class="xtick end">{escape(tick_fmt(end))}</text>')
    for seg in _segments(median, bucket_s * 3):
        parts.append(f'<polyline class="median" points="{" ".join(_points(seg, t0, t1, lo, hi))}"/>')
    for seg in _segments(series, bucket_s * 3):
        pts = _points(seg, t0, t1, lo, hi)
        if len(pts) == 1:
            x, y = pts[0].split(",")
            parts.append(f'<circle class="dot" cx="{x}" cy="{y}" r="2.5"/>')
        else:
            parts.append(f'<polyline class="mine" points="{" ".join(pts)}"/>')
    parts.append("</svg>")
    if legend:
        parts.append(f'<p class="legend"><span class="k mine"></span>{escape(legend[0])}'
                     f' <span class="k median"></span>{escape(legend[1])}</p>')
    return "".join(parts)
