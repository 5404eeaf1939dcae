"""Reuse API: free keys, the licence and citation, the operator's report; and the middleware that puts
the licence and a citation on every export and checks an API key when one is given.

Exports are the paths in EXPORT_PREFIXES. A key goes in the `X-API-Key` header (or `api_key=` in the
query for a browser link); an unknown or revoked key gets 401 rather than silently counting as anonymous.
"""
from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import reuse
from ..store.reuse_keys import ReuseKeys
from .deps import iso_utc

router = APIRouter(prefix="/api/v1/reuse", tags=["reuse"])

EXPORT_PREFIXES = ("/api/v1/readings", "/api/v1/stats", "/api/v1/archive", "/api/v1/atlas.geojson",
                   "/api/v1/areas", "/archive")


def require_operator(request: Request) -> None:
    from .admin import require_admin

    require_admin(request)


class KeyRequest(BaseModel):
    name: str = Field(..., max_length=200, examples=["Cabinet d'allergologie Dupont"])
    email: str = Field(..., max_length=320)
    purpose: str = Field(..., max_length=1000, examples=["pollen alert for my patients"])


@router.post("/keys", status_code=201, summary="Get a free API key (shown once)")
def create_key(body: KeyRequest, request: Request):
    store = request.app.state.store
    address = request.client.host if request.client else "unknown"
    try:
        key = reuse.register_key(store, body.name, body.email, body.purpose, reuse.client_key(store, address))
    except reuse.ReuseError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    return JSONResponse({"api_key": key, "key_prefix": key[:8], "licence": reuse.LICENCE,
                         "use": "send it as the X-API-Key header / envoyez-la dans l'en-tête X-API-Key"},
                        status_code=201, headers={"Cache-Control": "no-store"})


@router.get("/licence", summary="The licence of the data and how to cite it")
def licence(request: Request):
    return {"licence": reuse.LICENCE, "name": reuse.LICENCE_NAME, "url": reuse.LICENCE_URL,
            "citation": reuse.citation(str(request.base_url), "/api/v1/readings"),
            "attribution": {"en": "Data: DataCityZen contributors, ODbL", "fr": "Données : contributeurs DataCityZen, ODbL"}}


@router.get("/report", summary="Operator: downloads per key, per dataset and per device",
            dependencies=[Depends(require_operator)])
def report(request: Request):
    rep = ReuseKeys.of(request.app.state.store).report()
    for k in rep["keys"]:
        k["created_at"] = iso_utc(k["created_at"])
    return rep


class LicenceMiddleware:
    """Pure ASGI (streams pass through untouched): on export paths, check the API key if any, expose it
    to the route through `reuse.current_api_key`, and add the licence headers to the response."""

    def __init__(self, app: ASGIApp, store):
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(EXPORT_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        key = headers.get("x-api-key")
        if key is None:
            from urllib.parse import parse_qs

            key = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("api_key") or [None])[0]
        if key is not None and (len(key) > 100 or not ReuseKeys.of(self.store).is_valid(key)):
            response = JSONResponse({"detail": "unknown or revoked API key: get one at POST /api/v1/reuse/keys "
                                               "/ clé d'API inconnue ou révoquée"}, status_code=401)
            await response(scope, receive, send)
            return
        host = headers.get("host", "localhost")
        base = f"{scope.get('scheme', 'http')}://{host}"
        # The path is percent-encoded: a header must be latin-1, a path may hold any character.
        extra = reuse.licence_headers(base, quote(path, safe="/:@!$&'()*+,;=-._~"))
        token = reuse.current_api_key.set(key)

        async def send_with_licence(message):
            if message["type"] == "http.response.start":
                h = MutableHeaders(scope=message)
                for name, value in extra.items():
                    h[name] = value
            await send(message)

        try:
            await self.app(scope, receive, send_with_licence)
        finally:
            reuse.current_api_key.reset(token)
