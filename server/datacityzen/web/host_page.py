"""The host page's HTML from host_model's numbers: mobile first, inline CSS and SVG, no script needed.

Every shown value carries `data-q` and `data-value` (full precision) so tests and scripts can read
the page without parsing formatted numbers.
"""
from __future__ import annotations

from datetime import datetime, timezone
from html import escape

from .. import privacy
from ..quantities import QUANTITIES
from .charts import line_chart
from .home import format_number
from .host_model import PERIODS, to_local
from .host_text import TEXT

CSS = """
*{box-sizing:border-box}body{font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#17262f;background:#eef3f1}
header{background:#1f5f5b;color:#fff;padding:.8rem 1rem}header h1{margin:0;font-size:1.3rem}header p{margin:.2rem 0 0;opacity:.9;font-size:.9rem}
header nav{float:right}header a{color:#fff}main{max-width:68rem;margin:0 auto;padding:.5rem}
section{background:#fff;border-radius:.6rem;padding:.6rem .9rem;margin:.6rem 0;box-shadow:0 1px 2px #0002}
h2{font-size:1.1rem;margin:.2rem 0 .5rem;color:#1f5f5b}h3{font-size:1rem;margin:.8rem 0 .3rem}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(10.5rem,1fr));gap:.5rem}
.card{border:1px solid #d5e0dc;border-radius:.5rem;padding:.5rem .7rem}.card .name{font-size:.85rem;color:#456}
.card .v{font-size:1.6rem;font-weight:650}.card .x{font-size:.8rem;color:#4a5a63;margin:.2rem 0 0}.card .sub{font-size:.85rem;color:#345}
.banner{background:#fff4d6;border:1px solid #e6c66a;padding:.5rem .8rem;border-radius:.5rem}.msg{background:#dff3e4;border:1px solid #8cc79c;padding:.5rem .8rem;border-radius:.5rem}
.lvl{display:inline-block;padding:.05rem .5rem;border-radius:1rem;font-weight:600;color:#fff}
.l0{background:#2a9d8f}.l1{background:#8ab17d}.l2{background:#e9c46a;color:#222}.l3{background:#f4a261;color:#222}.l4{background:#e76f51}.l5{background:#7b2d43}
.proxy{font-size:.75rem;background:#eee;border-radius:.3rem;padding:0 .3rem}
svg.chart{width:100%;height:auto;max-height:14rem}svg .grid{stroke:#dde6e3;stroke-width:1}svg text{font-size:11px;fill:#567}
svg .ytick{text-anchor:end}svg .end{text-anchor:end}svg .mine{fill:none;stroke:#1f5f5b;stroke-width:2}svg .dot{fill:#1f5f5b}
svg .median{fill:none;stroke:#c2185b;stroke-width:1.5;stroke-dasharray:5 4}
.legend{font-size:.8rem;color:#456;margin:0}.k{display:inline-block;width:1.2rem;height:0;border-top:2px solid #1f5f5b;vertical-align:middle;margin:0 .2rem}
.k.median{border-top:2px dashed #c2185b}.tabs a{margin-right:.8rem}.tabs a[aria-current]{font-weight:700;text-decoration:none;color:#17262f}
.badges li{display:inline-block;background:#e3efe9;border-radius:1rem;padding:.1rem .6rem;margin:.15rem}.badges{padding:0}
form{margin:.3rem 0}label{display:inline-block;margin:.2rem .4rem .2rem 0}input,select,button{font:inherit;padding:.3rem .4rem;max-width:100%}
button{background:#1f5f5b;color:#fff;border:0;border-radius:.4rem;padding:.35rem .8rem}button.danger{background:#a23b2a}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.25rem .3rem;border-bottom:1px solid #e3e9e6;font-size:.9rem}
.muted{color:#667;font-size:.85rem}@media(min-width:48rem){.two{display:grid;grid-template-columns:1fr 1fr;gap:.6rem}}
"""

# A service worker that keeps the last copy of the page for viewing without a connection.
SERVICE_WORKER = """const C='dcz-host-v1';
self.addEventListener('install',e=>self.skipWaiting());
self.addEventListener('activate',e=>e.waitUntil(self.clients.claim()));
self.addEventListener('fetch',e=>{const r=e.request;if(r.method!=='GET'||r.mode!=='navigate')return;
e.respondWith(fetch(r).then(res=>{if(res.ok){const c=res.clone();caches.open(C).then(k=>k.put(r,c));}return res;})
.catch(()=>caches.match(r,{ignoreSearch:false}).then(m=>m||caches.match(r,{ignoreSearch:true}))));});
"""


class Fmt:
    """Numbers, units and times in the page's language."""

    def __init__(self, lang: str):
        self.lang = lang
        self.t = TEXT[lang]

    def num(self, v: float, decimals: int) -> str:
        return format_number(v, decimals, self.lang)

    def unit(self, v: float, decimals: int, unit: str) -> str:
        text = self.num(v, decimals)
        if not unit:
            return text
        if unit == "%":  # French typography puts a narrow no-break space before %; English none
            return text + ("\u202f%" if self.lang == "fr" else "%")
        return text + "\u202f" + unit

    def when(self, t: datetime | None) -> str:
        if t is None:
            return "–"
        local = to_local(t)
        return local.strftime("%d/%m/%Y %H:%M") if self.lang == "fr" else local.strftime("%Y-%m-%d %H:%M")

    def tick(self, t: datetime) -> str:
        local = to_local(t)
        return local.strftime("%d/%m %H:%M") if self.lang == "fr" else local.strftime("%m-%d %H:%M")

    def ago(self, t: datetime | None, now: datetime) -> str:
        if t is None:
            return "–"
        s = max(0, int((now - t).total_seconds()))
        if s < 90:
            n, u = s, "s"
        elif s < 5400:
            n, u = s // 60, "min"
        elif s < 172800:
            n, u = s // 3600, "h"
        else:
            n, u = s // 86400, "j" if self.lang == "fr" else "d"
        return f"il y a {n}\u202f{u}" if self.lang == "fr" else f"{n}\u202f{u} ago"


def _value(f: Fmt, key: str, value: float | None, decimals: int, unit: str, explain: str, extra: str = "",
           name: str | None = None) -> str:
    if value is None:
        return ""
    return (f'<div class="card" data-q="{key}" data-value="{value!r}"><div class="name">{escape(name or f.t[key])}</div>'
            f'<div class="v">{escape(f.unit(value, decimals, unit))}</div>{extra}'
            f'<p class="x">{escape(explain)}</p></div>')


def _now_section(m: dict, f: Fmt) -> str:
    w, t, ex = m["weather"], f.t, f.t["explain"]
    cards = [
        _value(f, "temperature", w["temperature"], 1, "°C", ex["temperature"]),
        _value(f, "humidity", w["humidity"], 0, "%", ex["humidity"]),
    ]
    if w["sea_level_pressure"] is not None:
        cards.append(_value(f, "sea_level_pressure", w["sea_level_pressure"], 1, "hPa", ex["sea_level_pressure"]))
    else:
        cards.append(_value(f, "station_pressure", w["station_pressure"], 1, "hPa", ex["station_pressure"]))
    cards += [
        _value(f, "dew_point", w["dew_point"], 1, "°C", ex["dew_point"]),
        _value(f, "heat_index", w["heat_index"], 1, "°C", ex["heat_index"]),
        _value(f, "humidex", w["humidex"], 0, "", ex["humidex"]),
    ]
    fc = w["forecast"]
    if fc is not None:
        from ..derived.weather import forecast_text

        change = f.unit(fc["change_3h"], 1, "hPa")
        cards.append(
            f'<div class="card" data-q="forecast" data-value="{fc["letter"]}"><div class="name">{t["forecast"]}</div>'
            f'<div class="v" style="font-size:1.15rem">{escape(forecast_text(fc["letter"], f.lang))}</div>'
            f'<div class="sub">{escape(t["trend"][fc["trend"]])} ({escape(change)} / 3 h) · Zambretti {fc["letter"]}</div>'
            f'<p class="x">{escape(ex["forecast"])}</p></div>')
    elif w["station_pressure"] is not None:
        cards.append(f'<div class="card" data-q="forecast" data-value=""><div class="name">{t["forecast"]}</div>'
                     f'<p class="x">{escape(ex["forecast_wait"])}</p></div>')
    return f'<section id="now"><h2>{t["now"]}</h2><div class="grid">{"".join(cards)}</div></section>'


def _air_section(m: dict, f: Fmt, raw: bool, base: str) -> str:
    a, t, ex = m["air"], f.t, f.t["explain"]
    cards = []
    for q in ("pm2_5", "pm10"):
        pm = a[q]
        if pm is None:
            continue
        sub = []
        if pm["mean24"] is not None:
            sub.append(t["mean24"].format(v=f.unit(pm["mean24"], 1, "µg/m³")))
        sub.append(t["calibrated_by"].format(m=pm["model"]) if pm["calibrated"] else t["raw_only"])
        extra = f'<div class="sub">{escape(" · ".join(sub))}</div>'
        if raw and pm["calibrated"]:
            extra += (f'<div class="sub" data-q="{q}_raw" data-value="{pm["raw"]!r}">'
                      f'{escape(t["raw_value"].format(v=f.unit(pm["raw"], 1, "µg/m³")))}</div>')
        cards.append(_value(f, q, pm["value"], 1, "µg/m³", ex[q], extra))
    idx = a["indices"]
    if idx:
        scale = m["device"].get("aqi_scale") or "eu"
        chosen = idx[scale]
        shown = f'{chosen["value"]} · {chosen[f.lang]}' if scale == "us" else chosen[f.lang]
        data_value = chosen["value"] if scale == "us" else chosen["key"]
        others = " · ".join(
            f'{t["scale"][s]}: {idx[s]["value"] if s == "us" else idx[s][f.lang]}' for s in ("eu", "atmo", "us")
            if s != scale)
        cards.append(
            f'<div class="card" data-q="index" data-scale="{scale}" data-value="{data_value}">'
            f'<div class="name">{t["index"]} — {t["scale"][scale]}</div>'
            f'<div class="v"><span class="lvl l{chosen["level"]}">{escape(str(shown))}</span></div>'
            f'<div class="sub">{escape(others)}</div><p class="x">{escape(ex["index_" + scale])}</p></div>')
    if a["pollen_proxy"] is not None:
        cards.append(_value(f, "pollen_proxy", a["pollen_proxy"], 2, "", ex["pollen_proxy"],
                            f'<div class="sub"><span class="proxy">proxy</span></div>'))
    n = a["noise"]
    if n is not None:
        cards.append(_value(f, "noise_laeq", n["laeq"], 1, "dB(A)", ex["noise_laeq"]))
        if n["lden"] is not None:
            cards.append(_value(f, "lden", n["lden"], 1, "dB(A)", ex["lden"]))
    if not cards:
        return ""
    toggle = ""
    if any(a[q] and a[q]["calibrated"] for q in ("pm2_5", "pm10")):
        toggle = (f'<p><a href="{base}&raw=0#air">{t["hide_raw"]}</a></p>' if raw
                  else f'<p><a href="{base}&raw=1#air">{t["show_raw"]}</a></p>')
    return f'<section id="air"><h2>{t["air"]}</h2><div class="grid">{"".join(cards)}</div>{toggle}</section>'


def _history_section(m: dict, f: Fmt, base: str) -> str:
    h, t = m["history"], f.t
    tabs = " ".join(
        f'<a href="{base}&period={p}#history"{" aria-current=page" if p == h["period"] else ""}>{t["period"][p]}</a>'
        for p in PERIODS)
    charts = []
    for c in h["charts"]:
        q = c["quantity"]
        meta = QUANTITIES[q]
        title = meta["label"][f.lang] + f' ({meta["unit"]})'
        if not c["series"]:
            charts.append(f'<h3>{escape(title)}</h3><p class="muted">{t["no_history"]}</p>')
            continue
        legend = (t["yours"], t["median"].format(n=c["neighbours"])) if c["median"] else None
        chart = line_chart(c["series"], c["median"], h["start"], h["end"], h["bucket_s"], title,
                           lambda v, d=meta["decimals"]: f.num(v, d), f.tick, legend)
        charts.append(f'<div class="hist" data-q="{q}" data-points="{len(c["series"])}"><h3>{escape(title)}</h3>{chart}</div>')
    return (f'<section id="history"><h2>{t["history"]}</h2><p class="tabs">{tabs}</p>'
            f'<div class="two">{"".join(charts)}</div></section>')


def _contribution_section(m: dict, f: Fmt) -> str:
    c, t = m["contribution"], f.t
    uptime = "–" if c["uptime"] is None else f.unit(100 * c["uptime"], 0, "%")
    rows = [
        ("readings", f.num(c["readings"], 0), c["readings"]),
        ("days_active", f.num(c["days_active"], 0), c["days_active"]),
        ("uptime", uptime, c["uptime"]),
        ("downloads", f.num(c["downloads"], 0), c["downloads"]),
    ]
    cells = "".join(f'<div class="card" data-q="{k}" data-value="{v!r}"><div class="name">{t[k]}</div>'
                    f'<div class="v">{escape(s)}</div></div>' for k, s, v in rows)
    since = f'<p class="muted">{escape(t["since"].format(when=f.when(c["first"])))}</p>' if c["first"] else ""
    badges = "".join(f'<li data-badge="{b}">★ {escape(t["badge"][b])}</li>' for b in c["badges"])
    return (f'<section id="contribution"><h2>{t["contribution"]}</h2><div class="grid">{cells}</div>{since}'
            f'<h3>{t["badges"]}</h3><ul class="badges">{badges}</ul></section>')


def _hidden(csrf: str, lang: str) -> str:
    return f'<input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="lang" value="{lang}">'


def _alert_text(a: dict, f: Fmt) -> str:
    t = f.t
    if a["kind"] == "silence":
        what = t["alert_silence"].format(h=f.num(a["hours"], 0 if a["hours"] == int(a["hours"]) else 1))
    elif a["kind"] == "threshold":
        meta = QUANTITIES[a["quantity"]]
        what = t["alert_threshold"].format(q=meta["label"][f.lang], op=t[a["op"]],
                                           v=f.unit(a["threshold"], meta["decimals"], meta["unit"]))
    else:
        what = t["alert_error"]
    return f'{what} → {t[a["channel"]]} {a["target"]}'


def _care_section(m: dict, f: Fmt, path: str, csrf: str) -> str:
    t, lang = f.t, f.lang
    hid = _hidden(csrf, lang)
    rows = []
    for a in m["alerts"]:
        rows.append(
            f'<tr data-alert="{a["id"]}"><td>{escape(_alert_text(a, f))}</td><td>{t[a["state"]]}</td>'
            f'<td><form method="post" action="{path}/alerts/{a["id"]}/remove">{hid}'
            f'<button class="danger">{t["remove"]}</button></form></td></tr>')
    alerts = f'<table>{"".join(rows)}</table>' if rows else f'<p class="muted">{t["no_alerts"]}</p>'
    q_options = "".join(f'<option value="{q}">{escape(QUANTITIES[q]["label"][lang])}</option>'
                        for q in ("pm2_5", "pm10", "temperature", "humidity", "pressure", "noise_laeq"))
    add = (f'<form method="post" action="{path}/alerts" id="add-alert">{hid}<h3>{t["add_alert"]}</h3>'
           f'<label>{t["kind"]} <select name="kind"><option value="silence">{t["kind_silence"]}</option>'
           f'<option value="threshold">{t["kind_threshold"]}</option><option value="error">{t["kind_error"]}</option>'
           f'</select></label> <label><input name="hours" type="number" min="0.25" max="720" step="0.25" value="3" '
           f'style="width:5rem"> {t["hours"]}</label><br><label>{t["quantity"]} <select name="quantity">{q_options}'
           f'</select></label> <label><select name="op"><option value="above">{t["above"]}</option>'
           f'<option value="below">{t["below"]}</option></select></label> <label>{t["threshold"]} '
           f'<input name="threshold" type="number" step="any" style="width:6rem"></label><br>'
           f'<label>{t["channel"]} <select name="channel"><option value="email">{t["email"]}</option>'
           f'<option value="webhook">{t["webhook"]}</option></select></label> '
           f'<label>{t["target"]} <input name="target" required maxlength="300" size="28"></label> '
           f'<button>{t["save"]}</button></form>')
    events = "".join(
        f'<tr><td>{escape(f.when(e["at"]))}</td><td>{escape(e["message_fr"] if lang == "fr" else e["message_en"])}</td>'
        f'<td>{escape(t["delivered"] if e["delivered"] else t["not_delivered"].format(e=e["error"] or "?"))}</td></tr>'
        for e in m["alert_events"])
    events = f'<h3>{t["recent_alerts"]}</h3><table id="alert-events">{events}</table>' if events else ""
    paused = m["device"]["paused"]
    publication = (f'<h3>{t["publication"]}</h3><form method="post" action="{path}/publication">{hid}'
                   f'<input type="hidden" name="action" value="{"resume" if paused else "pause"}">'
                   f'<button>{t["resume"] if paused else t["pause"]}</button></form>'
                   f'<p class="muted">{t["pause_help"]}</p>')
    deleted = "".join(f'<li>{escape(t["deleted_row"].format(start=f.when(d["start"]), end=f.when(d["end"]), n=d["values_removed"]))}</li>'
                      for d in m["deleted_periods"])
    delete = (f'<h3>{t["delete"]}</h3><form method="post" action="{path}/delete-period" id="delete-period">{hid}'
              f'<label>{t["from"]} <input type="datetime-local" name="start" required></label> '
              f'<label>{t["to"]} <input type="datetime-local" name="end" required></label> '
              f'<button class="danger">{t["delete_button"]}</button></form><p class="muted">{t["delete_help"]}</p>'
              + (f'<p>{t["deleted"]}</p><ul id="deleted-periods">{deleted}</ul>' if deleted else ""))
    site = m["site"]
    options = "".join(
        f'<option value="{p}"{" selected" if p == site.get("precision_m") else ""}>{escape(t["precision"][p])}</option>'
        for p in privacy.PRECISION_CHOICES)
    location = ""
    if site:
        location = (f'<h3>{t["location"]}</h3><form method="post" action="{path}/location">{hid}'
                    f'<select name="precision_m">{options}</select> <button>{t["save"]}</button></form>'
                    f'<p class="muted" id="public-location">{escape(t["public_at"].format(lat=f.num(site["public_lat"], 5), lon=f.num(site["public_lon"], 5)))}. '
                    f'{t["location_help"]}</p>')
    scale = m["device"].get("aqi_scale") or "eu"
    scales = "".join(f'<option value="{s}"{" selected" if s == scale else ""}>{t["scale"][s]}</option>'
                     for s in ("eu", "atmo", "us"))
    index = (f'<h3>{t["index_choice"]}</h3><form method="post" action="{path}/settings">{hid}'
             f'<select name="aqi_scale">{scales}</select> <button>{t["save"]}</button></form>')
    return (f'<section id="care"><h2>{t["care"]}</h2><div class="two"><div><h3>{t["alerts"]}</h3>{alerts}{add}{events}</div>'
            f'<div>{publication}{delete}{location}{index}</div></div></section>')


def render(m: dict, lang: str, path: str, csrf: str, raw: bool = False, message: str | None = None) -> str:
    f = Fmt(lang)
    t = f.t
    other = t["other"]
    period = m["history"]["period"]
    base = f"{path}?lang={lang}&period={period}"
    now = m["now_utc"]
    last = m["last"]
    status = (escape(t["last_reading"].format(when=f.ago(last["time"], now))) + f' ({escape(f.when(last["time"]))})'
              if last else escape(t["no_data"]))
    parts = [f'<header><nav><a href="{path}?lang={other}&period={period}" hreflang="{other}" id="switch-lang">{t["switch"]}</a></nav>'
             f'<h1>{escape(t["title"])} · {escape(m["device"]["name"])}</h1><p>{escape(m["device"]["id"])} · {status}</p></header><main>']
    if message:
        parts.append(f'<p class="msg" role="status" id="message">{escape(message)}</p>')
    if m["device"]["paused"]:
        parts.append(f'<p class="banner" id="paused">{t["paused_banner"]}</p>')
    if last:
        parts.append(_now_section(m, f))
        parts.append(_air_section(m, f, raw, base))
        parts.append(_history_section(m, f, base))
    parts.append(_contribution_section(m, f))
    parts.append(_care_section(m, f, path, csrf))
    parts.append(f'<p class="muted">{t["units"]} {t["offline_note"]}</p></main>')
    sw = (f"<script>if('serviceWorker'in navigator)navigator.serviceWorker.register('{path}/sw.js',{{scope:'{path}'}})"
          ".catch(function(){});</script>")
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex">'
            f'<meta name="referrer" content="same-origin"><title>{escape(t["title"])} · {escape(m["device"]["name"])}</title>'
            f'<style>{CSS}</style></head><body>{"".join(parts)}{sw}</body></html>')


def render_not_found(lang: str) -> str:
    t = TEXT[lang]
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex">'
            f'<title>{t["not_found_title"]}</title><style>{CSS}</style></head><body><main><section>'
            f'<h2>{t["not_found_title"]}</h2><p>{t["not_found"]}</p></section></main></body></html>')


def render_bad_form(lang: str) -> str:
    t = TEXT[lang]
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>403</title></head>'
            f'<body><main><p>{t["bad_form"]}</p></main></body></html>')
