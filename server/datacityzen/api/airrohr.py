"""HTTP ingest for airrohr (Sensor.Community) nodes, in their own formats, unchanged:

- `POST /v1/push-sensor-data/`: Sensor.Community's per-sensor body, `X-Sensor` and `X-PIN` headers (also
  accepted without `X-`); a body carrying `esp8266id` and no pin is taken as the combined body;
- `POST /api/v1/airrohr`: the custom-API combined body (`esp8266id`, prefixed names);
- `POST /write?db=NAME[&precision=s]`: InfluxDB v1 line protocol, answered 204 like InfluxDB.

Who may post: a node registered with `datacityzen devices add --airrohr esp8266-<id>`, authenticated by
HTTP basic auth (user `esp8266-<id>`, password the HTTP token printed at registration). On the
per-sensor path a node registered with `--airrohr-open` is also accepted on `X-Sensor` alone. An unknown
or unauthenticated node gets 401/403 and nothing is stored; a known node's malformed body gets 400 and
goes to the quarantine with the reason.
"""
from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime, timezone

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from ..ingest import airrohr
from ..ingest.pipeline import Ingestor, Message
from ..store.airrohr_nodes import AirrohrNodes
from .deps import app_object
from .limits import check_device_rate, read_body

router = APIRouter(tags=["airrohr ingest"])


def _registry(store):
    from ..store.registry import Registry

    return Registry.of(store)


def _ingestor(request: Request) -> Ingestor:
    return app_object(request, "airrohr_ingestor", lambda state: Ingestor(state.store))


def _repeats(request: Request) -> airrohr.RepeatFilter:
    return app_object(request, "airrohr_repeats", lambda state: airrohr.RepeatFilter())


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status_code=401, detail=message,
                         headers={"WWW-Authenticate": 'Basic realm="datacityzen airrohr"'})


def _basic_auth(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise _unauthorized("use HTTP basic auth (user esp8266-<id>, password: the node's token) "
                            "/ utilisez l'authentification HTTP basic")
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise _unauthorized("malformed basic auth header / en-tête basic auth mal formé") from None
    if not sep:
        raise _unauthorized("malformed basic auth header / en-tête basic auth mal formé")
    return user, password


def _node(text: str, what: str) -> str:
    try:
        return airrohr.node_id(text)
    except airrohr.AirrohrError:
        raise HTTPException(status_code=400, detail=(
            f"{what} {text[:40]!r} is not esp8266-<chip id> / {what} n'est pas esp8266-<numéro de puce>")) from None


def _check_node(request: Request, node: str, *, header_identity: bool) -> None:
    """Raises 401/403 unless `node` is a registered airrohr node and the request proves it."""
    store = request.app.state.store
    registry = _registry(store)
    info = AirrohrNodes.of(store).get(node)
    if info is None or not registry.exists(node):
        raise HTTPException(status_code=403, detail=(
            f"airrohr node {node} is not registered: datacityzen devices add --airrohr {node} ... "
            f"/ le capteur airrohr {node} n'est pas enregistré"))
    creds = _basic_auth(request)
    if creds is None:
        if header_identity and info["open_push"]:
            check_device_rate(request, node)
            return
        raise _unauthorized(f"basic auth required for {node} (user {node}, password: its token) "
                            f"/ authentification basic requise pour {node}")
    user, password = creds
    if user.strip().lower() != node or not registry.check_http_token(node, password):
        raise _unauthorized(f"wrong user or password for {node} / utilisateur ou mot de passe erroné pour {node}")
    check_device_rate(request, node)  # 429 + Retry-After past the device's share (api/limits.py)


async def _body(request: Request) -> bytes:
    body = await read_body(request, airrohr.MAX_BODY, f"body over {airrohr.MAX_BODY} bytes / corps trop grand")
    if not body.strip():
        raise HTTPException(status_code=400, detail="empty body / corps vide")
    return body


def _ingest(request: Request, topic: str, body: bytes, received: datetime) -> dict:
    msg = Message(topic, body, received, transport="airrohr")
    try:
        airrohr.decode_message(msg)  # for the reason to answer with; the Ingestor quarantines it
        reason = None
    except airrohr.AirrohrError as exc:
        reason = str(exc)
    result = _ingestor(request).handle([msg])
    if reason is not None:
        raise HTTPException(status_code=400, detail=f"{reason} (kept in quarantine / mis en quarantaine)")
    return {"stored": result.stored, "duplicates": result.duplicates}


def _header(request: Request, name: str) -> str | None:
    return request.headers.get(f"x-{name}") or request.headers.get(name)


@router.post("/v1/push-sensor-data/", summary="Sensor.Community push (per-sensor body, X-Sensor/X-PIN)")
@router.post("/v1/push-sensor-data", include_in_schema=False)
async def push_sensor_data(request: Request):
    body = await _body(request)
    sensor = _header(request, "sensor")
    pin_text = _header(request, "pin")
    received = datetime.now(timezone.utc)
    if pin_text is None:
        try:
            node = airrohr.combined_node(body)
        except airrohr.AirrohrError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        if node is None:
            raise HTTPException(status_code=400, detail=(
                "X-PIN header missing (1 = PM sensor, 11 = BME280, ...) / en-tête X-PIN manquant"))
        if sensor is not None and _node(sensor, "X-Sensor") != node:
            raise HTTPException(status_code=400, detail="X-Sensor and esp8266id differ / X-Sensor et esp8266id diffèrent")
        _check_node(request, node, header_identity=False)
        at = _repeats(request).time_for(node, "combined", body)
        return JSONResponse(_ingest(request, airrohr.combined_topic(node, at), body, received), status_code=201)
    if sensor is None:
        raise HTTPException(status_code=400, detail="X-Sensor header missing (esp8266-<chip id>) / en-tête X-Sensor manquant")
    node = _node(sensor, "X-Sensor")
    if not re.fullmatch(r"[0-9]{1,2}", pin_text.strip()) or int(pin_text) not in airrohr.PINS:
        raise HTTPException(status_code=400, detail=(
            f"X-PIN {pin_text[:8]!r}: use one of {', '.join(map(str, airrohr.PINS))} / X-PIN inconnu"))
    pin = int(pin_text)
    _check_node(request, node, header_identity=True)
    at = _repeats(request).time_for(node, f"pin{pin}", body)
    return JSONResponse(_ingest(request, airrohr.push_topic(node, pin, at), body, received), status_code=201)


@router.post("/api/v1/airrohr", summary="airrohr custom API (combined body with esp8266id, basic auth)")
async def custom_api(request: Request):
    body = await _body(request)
    received = datetime.now(timezone.utc)
    creds = _basic_auth(request)
    try:
        node = airrohr.combined_node(body)
    except airrohr.AirrohrError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    if node is None:
        if creds is None:
            raise _unauthorized("basic auth required / authentification basic requise")
        node = _node(creds[0], "user")
    _check_node(request, node, header_identity=False)
    at = _repeats(request).time_for(node, "combined", body)
    return JSONResponse(_ingest(request, airrohr.combined_topic(node, at), body, received), status_code=201)


@router.post("/write", summary="InfluxDB v1 line protocol, as airrohr's InfluxDB option sends it")
async def influx_write(
    request: Request,
    db: str = Query(..., pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="database name (any; not used)"),
    precision: str = Query("ns", pattern=r"^(ns|u|ms|s|m|h)$"),
):
    body = await _body(request)
    received = datetime.now(timezone.utc)
    creds = _basic_auth(request)
    if creds is None:
        raise _unauthorized("basic auth required (user esp8266-<id>) / authentification basic requise")
    node = _node(creds[0], "user")
    try:
        nodes = airrohr.influx_nodes(body)
    except airrohr.AirrohrError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    if any(n.strip().lower() != node for n in nodes):
        raise HTTPException(status_code=403, detail=f"lines name another node than {node} / les lignes nomment un autre capteur")
    _check_node(request, node, header_identity=False)
    at = _repeats(request).time_for(node, f"influx-{precision}", body)
    _ingest(request, airrohr.influx_topic(node, precision, at), body, received)
    return Response(status_code=204)
