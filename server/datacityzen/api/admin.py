"""Admin API: register devices and their hosts, rotate or revoke host links and device credentials.

Every route needs `Authorization: Bearer <DCZ_ADMIN_TOKEN>` (compared in constant time): 401 without
the header, 403 with a wrong token or when the server runs without an admin token (API disabled).
Responses holding secrets are sent with `Cache-Control: no-store`.
"""
from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from .. import privacy
from ..provisioning import host_url, registration_output
from ..store.registry import RegistryError, UnknownDevice
from .deps import iso_utc

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


def require_admin(request: Request) -> None:
    settings = getattr(request.app.state, "settings", None)
    expected = getattr(settings, "admin_token", None)
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise HTTPException(401, "admin token required: send Authorization: Bearer <DCZ_ADMIN_TOKEN>",
                            headers={"WWW-Authenticate": "Bearer"})
    if not expected:
        raise HTTPException(403, "the admin API is disabled: start the server with DCZ_ADMIN_TOKEN set")
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise HTTPException(403, "wrong admin token")


Admin = Annotated[None, Depends(require_admin)]


def registry_of(request: Request):
    return request.app.state.registry


def base_url(request: Request) -> str:
    settings = getattr(request.app.state, "settings", None)
    return (getattr(settings, "public_url", None) or str(request.base_url)).rstrip("/")


def _no_store(body: dict, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


class DeviceCreate(BaseModel):
    kit: str | None = Field(None, examples=["air-outdoor-v1"], description="kit id (not needed with airrohr)")
    name: str = Field(..., examples=["Balcon rue Sainte-Catherine"])
    lat: float = Field(..., ge=-90, le=90)
    lon: float = Field(..., ge=-180, le=180)
    altitude_m: float | None = Field(None, ge=-500, le=9000)
    email: str | None = None
    id: str | None = Field(None, description="device id; generated (dcz-xxxxxx) when absent")
    precision_m: int = Field(privacy.DEFAULT_PRECISION_M,
                             description="public location grid in metres (0 = exact, else >= 100)")
    airrohr: str | None = Field(None, examples=["esp8266-13463342"],
                                description="register an airrohr (Sensor.Community) node with this id instead of a kit")
    airrohr_open: bool = Field(False, description="airrohr: accept its Sensor.Community pushes on X-Sensor alone")
    mqtt_password: str | None = Field(None, min_length=32, max_length=128,
                                      description="set by the flash station when it registered offline")
    http_token: str | None = Field(None, min_length=32, max_length=128)
    host_token: str | None = Field(None, min_length=32, max_length=128)


@router.post("/devices", status_code=201, summary="Register a device and its host")
def add_device(body: DeviceCreate, request: Request, _: Admin):
    registry = registry_of(request)
    try:
        if body.airrohr:
            from ..ingest.airrohr import AirrohrError
            from ..store.airrohr_nodes import register_node

            try:
                reg = register_node(request.app.state.store, body.airrohr, body.name, body.lat, body.lon,
                                    precision_m=body.precision_m, email=body.email, altitude_m=body.altitude_m,
                                    open_push=body.airrohr_open)
            except AirrohrError as exc:
                raise RegistryError(str(exc)) from None
        elif not body.kit:
            raise RegistryError("give a kit id (or airrohr for a Sensor.Community node) / donnez un kit")
        else:
            reg = registry.register(body.kit, body.name, body.lat, body.lon, altitude_m=body.altitude_m,
                                    email=body.email, device_id=body.id, precision_m=body.precision_m,
                                    secrets_given={"mqtt_password": body.mqtt_password,
                                                   "http_token": body.http_token, "host_token": body.host_token})
    except RegistryError as exc:
        status = 409 if "already registered" in str(exc) else 400
        raise HTTPException(status, str(exc)) from None
    mqtt_address = request.app.state.settings.device_broker_address
    return _no_store(registration_output(reg, mqtt_address, base_url(request)), 201)


@router.get("/devices", summary="Registered devices (no secrets, no exact location)")
def list_devices(request: Request, _: Admin) -> list[dict]:
    out = []
    for d in registry_of(request).devices():
        d["created_at"] = iso_utc(d["created_at"])
        out.append(d)
    return out


def _known(request: Request, device: str):
    registry = registry_of(request)
    if not registry.exists(device):
        raise HTTPException(404, f"no registered device {device!r}")
    return registry


@router.post("/devices/{device}/host-link", summary="Revoke the host link and issue a new one")
def rotate_host_link(device: str, request: Request, _: Admin):
    token = _known(request, device).rotate_host_token(device)
    return _no_store({"id": device, "host_url": host_url(base_url(request), token)})


@router.delete("/devices/{device}/host-link", summary="Revoke the host link")
def revoke_host_link(device: str, request: Request, _: Admin):
    revoked = _known(request, device).revoke_host_token(device)
    return {"id": device, "revoked": revoked}


@router.post("/devices/{device}/credentials", summary="New MQTT password and HTTP token (old ones stop working)")
def rotate_credentials(device: str, request: Request, _: Admin):
    try:
        mqtt_password, http_token = _known(request, device).rotate_credentials(device)
    except UnknownDevice as exc:
        raise HTTPException(404, str(exc)) from None
    return _no_store({"id": device, "mqtt": {"username": device, "password": mqtt_password},
                      "http": {"token": http_token}})
