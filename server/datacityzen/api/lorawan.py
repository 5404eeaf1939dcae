"""HTTP ingest from LoRaWAN network servers: The Things Stack v3 webhooks and ChirpStack v4's HTTP
integration. The application payload is the binary of docs/wire-format.md ("LoRaWAN binary payload
v1"); the readings go through the same pipeline as MQTT uplinks (idempotent on device + seq,
quarantine with a reason), with the radio metadata (RSSI, SNR, gateway, spreading factor, DevEUI, frame
counter) kept beside each reading in raw_readings.radio.

Who may post: the network server, proving it with the shared secret (`datacityzen serve --ttn-secret`
or DCZ_TTN_SECRET) as `Authorization: Bearer <secret>`, a custom header of the webhook or integration.
Without a configured secret both routes answer 403; a missing or wrong secret gets 401 (compared in
constant time). The device must be registered (`datacityzen devices add`): its id is the device id
given at the network server (docs/api.md).
"""
from __future__ import annotations

import hmac
from collections import Counter
from datetime import datetime, timezone

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from ..ingest import lorawan_v1, lorawan_webhooks
from ..ingest.pipeline import Ingestor, Message
from ..ingest.wire_v1 import DecodeError
from .deps import app_object
from .limits import check_device_rate, read_body

router = APIRouter(tags=["LoRaWAN ingest"])

_AUTH_DOC = {401: {"description": "missing or wrong shared secret"},
             403: {"description": "no shared secret configured (the route is off), or the device is not registered"}}
_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "description": "the network server's uplink event, as it posts it"}}}}}




def _check_secret(request: Request) -> None:
    secret = getattr(request.app.state.settings, "ttn_secret", None)
    if not secret:
        raise HTTPException(status_code=403, detail=(
            "LoRaWAN ingest is off: start the server with --ttn-secret or DCZ_TTN_SECRET "
            "/ ingestion LoRaWAN désactivée : démarrez le serveur avec --ttn-secret ou DCZ_TTN_SECRET"))
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    ok = scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "surrogateescape"), secret.encode("utf-8", "surrogateescape"))
    if not ok:
        raise HTTPException(status_code=401, headers={"WWW-Authenticate": 'Bearer realm="datacityzen lorawan"'},
                            detail=("send the shared secret as 'Authorization: Bearer <secret>' "
                                    "/ envoyez le secret partagé en en-tête Authorization: Bearer"))


async def _body(request: Request) -> bytes:
    limit = lorawan_webhooks.MAX_BODY
    return await read_body(request, limit, f"body over {limit} bytes / corps trop grand")


def _ingest(request: Request, network: str, body: bytes, parse) -> JSONResponse:
    state = request.app.state
    ingestor = app_object(request, "lorawan_ingestor", lambda st: Ingestor(st.store))
    now = datetime.now(timezone.utc)
    try:
        up = parse(body, now)
    except DecodeError as exc:
        ingestor.reject(Message(network, body, now, transport=network), exc.reason)
        raise HTTPException(status_code=400, detail=f"{exc.reason} (kept in quarantine / mis en quarantaine)") from None
    if not up.fport or not up.payload:
        return JSONResponse({"stored": 0, "duplicates": 0, "ignored": "no application payload"})
    msg = Message(lorawan_v1.topic(up.device, up.fport), up.payload, up.received_at, transport="lorawan",
                  radio=up.radio)
    from ..store.registry import Registry

    if not Registry.of(state.store).exists(up.device):
        reason = (f"device {up.device} is not registered: register it with `datacityzen devices add` under "
                  f"the device id it has at the network server")
        ingestor.reject(msg, reason)
        raise HTTPException(status_code=403, detail=f"{reason} / appareil non enregistré")
    check_device_rate(request, up.device)
    result = ingestor.handle([msg])  # stores it, or quarantines it with the reason
    totals = app_object(request, "lorawan_totals", lambda st: Counter())
    totals.update(stored=result.stored, duplicates=result.duplicates, quarantined=result.quarantined)
    if result.reasons:
        reason = result.reasons[0]
        raise HTTPException(status_code=400, detail=f"{reason} (kept in quarantine / mis en quarantaine)")
    return JSONResponse({"stored": result.stored, "duplicates": result.duplicates})


@router.post("/api/v1/ingest/ttn", summary="The Things Stack v3 uplink webhook (LoRaWAN payload v1)",
             responses=_AUTH_DOC, openapi_extra=_BODY)
async def ingest_ttn(request: Request):
    _check_secret(request)
    body = await _body(request)
    return _ingest(request, "ttn", body, lorawan_webhooks.parse_ttn)


@router.post("/api/v1/ingest/chirpstack", summary="ChirpStack v4 HTTP integration event (up events ingested)",
             responses=_AUTH_DOC, openapi_extra=_BODY)
async def ingest_chirpstack(request: Request,
                            event: str = Query(..., pattern=r"^[a-z]{1,20}$",
                                               description="ChirpStack event type; only 'up' carries readings")):
    _check_secret(request)
    body = await _body(request)
    if event != "up":
        return JSONResponse({"stored": 0, "duplicates": 0, "ignored": f"event {event}"})
    return _ingest(request, "chirpstack", body, lorawan_webhooks.parse_chirpstack)
