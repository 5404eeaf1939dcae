"""The host's page, `/host/<token>`: their micro-climate, their air, their contribution and their
settings. The token in the path is the host's private link (256 bits, revocable); an unknown or
revoked token gets the same 404 page as any missing page, with nothing about any device.

Actions are POST forms under the same path. They are CSRF-safe twice over: the browser's Origin (or
Referer) must be this site, and each form carries a token derived (HMAC) from the host link and a
per-process key. The page sends `Referrer-Policy: same-origin` so the link never leaks to other sites
(and same-origin form posts still carry their Origin, which `no-referrer` would turn into "null").
"""
from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..store.registry import RegistryError
from . import host_model
from .host_page import SERVICE_WORKER, render, render_bad_form, render_not_found
from .host_text import TEXT

router = APIRouter(include_in_schema=False)

PRIVATE_HEADERS = {
    "Referrer-Policy": "same-origin",
    "X-Robots-Tag": "noindex",
    "Cache-Control": "private, no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
MAX_FORM_BYTES = 4096


def pick_language(request: Request, form: dict | None = None) -> str:
    asked = (form or {}).get("lang") or request.query_params.get("lang") or request.cookies.get("dcz_lang")
    if asked in TEXT:
        return asked
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in TEXT:
            return code
    return "fr"


def _form_key(request: Request) -> bytes:
    app = request.app
    if not hasattr(app.state, "host_form_key"):
        app.state.host_form_key = secrets.token_bytes(32)
    return app.state.host_form_key


def csrf_token(request: Request, token: str) -> str:
    return hmac.new(_form_key(request), b"host-form:" + token.encode(), hashlib.sha256).hexdigest()[:32]


def not_found(request: Request) -> HTMLResponse:
    return HTMLResponse(render_not_found(pick_language(request)), status_code=404, headers=PRIVATE_HEADERS)


def _device(request: Request, token: str) -> str | None:
    return request.app.state.registry.device_for_host_token(token)


@router.get("/host/{token}", response_class=HTMLResponse)
def host_page(token: str, request: Request, period: str = "24h", raw: str = "0", msg: str = "", n: str = ""):
    device = _device(request, token)
    if device is None:
        return not_found(request)
    lang = pick_language(request)
    if period not in host_model.PERIODS:
        period = "24h"
    model = host_model.build(request.app.state.store, request.app.state.registry, device, period)
    message = None
    if msg in TEXT[lang]["msg"]:
        message = TEXT[lang]["msg"][msg].format(n=n if n.isdigit() else "?")
    html = render(model, lang, f"/host/{token}", csrf_token(request, token), raw == "1", message)
    response = HTMLResponse(html, headers={**PRIVATE_HEADERS, "Content-Language": lang})
    if request.query_params.get("lang") in TEXT:
        response.set_cookie("dcz_lang", lang, max_age=365 * 86400, samesite="lax", path="/host")
    return response


@router.get("/host/{token}/sw.js")
def service_worker(token: str, request: Request):
    if _device(request, token) is None:
        return not_found(request)
    return Response(SERVICE_WORKER, media_type="text/javascript",
                    headers={**PRIVATE_HEADERS, "Service-Worker-Allowed": f"/host/{token}"})


# -- actions ---------------------------------------------------------------------------------------
class FormError(Exception):
    pass


def _same_origin(request: Request) -> bool:
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return True  # old browsers send neither on same-origin posts; the form token still protects
    if source == "null":
        return False
    host = request.headers.get("host", "")
    return urlsplit(source).netloc == host


async def _form(request: Request, token: str) -> tuple[str | None, dict, Response | None]:
    """(device, fields, error response) after the host-token, size, origin and CSRF checks."""
    device = _device(request, token)
    if device is None:
        return None, {}, not_found(request)
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return None, {}, HTMLResponse("form too large / formulaire trop grand", status_code=413)
    fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    lang = pick_language(request, fields)
    if not _same_origin(request) or not hmac.compare_digest(fields.get("csrf", ""), csrf_token(request, token)):
        return None, fields, HTMLResponse(render_bad_form(lang), status_code=403, headers=PRIVATE_HEADERS)
    return device, fields, None


def _back(token: str, fields: dict, request: Request, msg: str, anchor: str, n: int | None = None):
    lang = pick_language(request, fields)
    extra = f"&n={n}" if n is not None else ""
    return RedirectResponse(f"/host/{token}?lang={lang}&msg={msg}{extra}#{anchor}", status_code=303,
                            headers=PRIVATE_HEADERS)


def _bad(request: Request, fields: dict, message: str) -> HTMLResponse:
    lang = pick_language(request, fields)
    title = "Réglage refusé" if lang == "fr" else "Setting refused"
    back = "Retour" if lang == "fr" else "Back"
    from html import escape

    return HTMLResponse(f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
                        f'<meta name="viewport" content="width=device-width,initial-scale=1"></head><body><main>'
                        f'<h1>{title}</h1><p id="error">{escape(message)}</p><p><a href="javascript:history.back()">{back}</a>'
                        f'</p></main></body></html>', status_code=400, headers=PRIVATE_HEADERS)


def _float(fields: dict, name: str) -> float | None:
    value = (fields.get(name) or "").strip().replace(",", ".")
    if value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise FormError(f"{name}: {value!r} is not a number / n'est pas un nombre") from None
    if not math.isfinite(number):
        raise FormError(f"{name}: give a finite number / donnez un nombre fini")
    return number


def _local_time(fields: dict, name: str) -> datetime:
    value = (fields.get(name) or "").strip()
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise FormError(f"{name}: {value!r} is not a date and time / n'est pas une date et une heure") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=host_model.LOCAL_TZ)
    return t.astimezone(timezone.utc).replace(tzinfo=None)


@router.post("/host/{token}/alerts")
async def add_alert(token: str, request: Request):
    device, fields, error = await _form(request, token)
    if error:
        return error
    from ..alerts import check_target

    try:
        kind, channel = fields.get("kind", ""), fields.get("channel", "")
        target = (fields.get("target") or "").strip()
        check_target(channel, target, request.app.state.settings)
        request.app.state.registry.add_alert(
            device, kind, channel, target, quantity=fields.get("quantity") or None, op=fields.get("op") or None,
            threshold=_float(fields, "threshold") if kind == "threshold" else None,
            hours=_float(fields, "hours") if kind == "silence" else None)
    except (FormError, RegistryError) as exc:
        return _bad(request, fields, str(exc))
    return _back(token, fields, request, "alert_added", "care")


@router.post("/host/{token}/alerts/{alert_id}/remove")
async def remove_alert(token: str, alert_id: str, request: Request):
    device, fields, error = await _form(request, token)
    if error:
        return error
    if not alert_id.isdigit() or not request.app.state.registry.remove_alert(device, int(alert_id)):
        return _bad(request, fields, "no such alert / alerte inconnue")
    return _back(token, fields, request, "alert_removed", "care")


@router.post("/host/{token}/publication")
async def publication(token: str, request: Request):
    device, fields, error = await _form(request, token)
    if error:
        return error
    action = fields.get("action")
    if action not in ("pause", "resume"):
        return _bad(request, fields, "action: pause or resume / pause ou reprise")
    request.app.state.registry.set_paused(device, action == "pause")
    return _back(token, fields, request, "paused" if action == "pause" else "resumed", "care")


@router.post("/host/{token}/delete-period")
async def delete_period(token: str, request: Request):
    device, fields, error = await _form(request, token)
    if error:
        return error
    try:
        removed = request.app.state.registry.delete_period(device, _local_time(fields, "start"),
                                                           _local_time(fields, "end"))
    except (FormError, RegistryError) as exc:
        return _bad(request, fields, str(exc))
    return _back(token, fields, request, "deleted", "care", n=removed)


@router.post("/host/{token}/location")
async def location(token: str, request: Request):
    device, fields, error = await _form(request, token)
    if error:
        return error
    try:
        precision = int(fields.get("precision_m", ""))
        from .. import privacy

        if precision not in privacy.PRECISION_CHOICES:
            raise ValueError
        request.app.state.registry.set_precision(device, precision)
    except (ValueError, RegistryError):
        return _bad(request, fields, "precision: choose one of the listed options / choisissez une option de la liste")
    return _back(token, fields, request, "precision", "care")


@router.post("/host/{token}/settings")
async def settings(token: str, request: Request):
    device, fields, error = await _form(request, token)
    if error:
        return error
    try:
        request.app.state.registry.set_aqi_scale(device, fields.get("aqi_scale", ""))
    except RegistryError as exc:
        return _bad(request, fields, str(exc))
    return _back(token, fields, request, "scale", "air")
