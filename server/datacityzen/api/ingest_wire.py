"""HTTP ingest of our own wire format: `POST /api/v1/ingest/wire`.

The body is a wire v1 uplink (docs/wire-format.md), byte for byte what the firmware publishes on MQTT
`dcz/v1/<device>/up`; the device is the body's `device` (the topic's on MQTT). The request carries
`Authorization: Bearer <the device's HTTP token>` (given once at registration, kept as a scrypt hash in
store/registry.py). Nobody posts as a device they do not own:

- no bearer token, or one that is no device's: 401 (`WWW-Authenticate: Bearer`);
- another device's token: 403, and nothing is stored;
- a body over wire_v1.MAX_PAYLOAD: 413; a body from which no device id can be read: 400. Neither is
  kept: without a device there is no credential to check, and an unauthenticated sender must not fill
  the quarantine.

Once the token matches the device, the device's own rate bucket applies (429 + Retry-After,
api/limits.py), then the message goes through the same `Ingestor` as MQTT: stored once per
(device, seq) however often it is posted (200 with `stored` and `duplicates`), or quarantined with the
reason, which the answer gives (422). The token is never put in an answer or a log line.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from ..ingest import wire_v1
from ..ingest.pipeline import Ingestor, Message
from .deps import app_object
from .limits import check_device_rate, read_body

router = APIRouter(prefix="/api/v1/ingest", tags=["device ingest"])

TRANSPORT = "http"
_BODY_SCHEMA = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["version", "device", "kit", "firmware", "readings"],
        "properties": {
            "version": {"type": "integer", "enum": [1]},
            "device": {"type": "string", "pattern": "^[a-z0-9-]{3,40}$"},
            "kit": {"type": "string"}, "firmware": {"type": "string"},
            "readings": {"type": "array", "minItems": 1, "maxItems": wire_v1.MAX_READINGS, "items": {
                "type": "object", "required": ["seq", "time", "values"],
                "properties": {"seq": {"type": "integer", "minimum": 0}, "time": {"type": "number"},
                               "values": {"type": "object", "additionalProperties": {"type": "number"}},
                               "flags": {"type": "object"}, "errors": {"type": "array"}}}},
        }}}},
}


def _detail(en: str, fr: str) -> dict:
    return {"en": en, "fr": fr}


def _unauthorized(en: str, fr: str) -> HTTPException:
    return HTTPException(status_code=401, detail=_detail(en, fr),
                         headers={"WWW-Authenticate": 'Bearer realm="datacityzen ingest"'})


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("send the device's HTTP token: Authorization: Bearer <token>",
                            "envoyez le jeton HTTP de l'appareil : Authorization: Bearer <jeton>")
    return token


async def _body(request: Request) -> bytes:
    limit = wire_v1.MAX_PAYLOAD
    return await read_body(request, limit, _detail(
        f"an uplink is at most {limit} bytes: send a long backlog in several posts",
        f"un envoi fait au plus {limit} octets : envoyez un long arriéré en plusieurs fois"))


def _device_of(body: bytes) -> str:
    """The device id the body claims (what the topic says on MQTT), or 400."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        doc = None
    device = doc.get("device") if isinstance(doc, dict) else None
    if not isinstance(device, str) or not wire_v1._DEVICE_RE.fullmatch(device):
        raise HTTPException(status_code=400, detail=_detail(
            "the body must be a wire v1 uplink (UTF-8 JSON object) whose \"device\" is the device id "
            "(3 to 40 characters of a-z, 0-9 and -); see docs/wire-format.md",
            "le corps doit être un envoi au format wire v1 (objet JSON UTF-8) dont \"device\" est "
            "l'identifiant de l'appareil ; voir docs/wire-format.md"))
    return device


def _authenticate(registry, device: str, token: str) -> None:
    """401 or 403 unless `token` is `device`'s HTTP token (scrypt: runs in a worker thread)."""
    if len(token) <= 200 and registry.check_http_token(device, token):
        return
    owner = registry.http_token_device(token)
    if owner is not None:  # a real token, of another device: never say whose
        raise HTTPException(status_code=403, detail=_detail(
            f"this token is not {device}'s: a device posts only its own readings",
            f"ce jeton n'est pas celui de {device} : un appareil n'envoie que ses propres mesures"))
    rotate = f"POST /api/v1/admin/devices/{device}/credentials"
    raise _unauthorized(f"unknown token for {device} (new credentials: {rotate})",
                        f"jeton inconnu pour {device} (nouveaux identifiants : {rotate})")


def _ingestor(request: Request) -> Ingestor:
    return app_object(request, "wire_ingestor", lambda state: Ingestor(state.store))


def _ingest(ingestor: Ingestor, msg: Message) -> tuple[dict | None, str | None]:
    result = ingestor.handle([msg])  # stores it, or quarantines it with the reason
    return {"stored": result.stored, "duplicates": result.duplicates}, (result.reasons[0] if result.reasons else None)


@router.post("/wire", summary="A device's wire v1 uplink over HTTP (bearer: the device's HTTP token)",
             openapi_extra={"requestBody": _BODY_SCHEMA},
             responses={401: {"description": "no token, or an unknown one"},
                        403: {"description": "another device's token"},
                        413: {"description": "body over 16 KiB"},
                        422: {"description": "not wire v1: quarantined with the reason"},
                        429: {"description": "too many requests (Retry-After)"}})
async def ingest_wire(request: Request) -> dict:
    token = _bearer(request)
    body = await _body(request)
    received = datetime.now(timezone.utc)
    device = _device_of(body)
    await run_in_threadpool(_authenticate, request.app.state.registry, device, token)
    check_device_rate(request, device)  # 429 + Retry-After past the device's share
    msg = Message(f"dcz/v{wire_v1.VERSION}/{device}/up", body, received, transport=TRANSPORT)
    result, reason = await run_in_threadpool(_ingest, _ingestor(request), msg)
    if reason is not None:
        raise HTTPException(status_code=422, detail=_detail(
            f"{reason} (kept in quarantine; do not send it again)",
            f"{reason} (mis en quarantaine ; ne pas le renvoyer)"))
    return result
