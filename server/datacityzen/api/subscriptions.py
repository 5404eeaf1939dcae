"""White-label alert subscriptions for reusers (X-API-Key): create, list, delete. See subscriptions.py
for the webhook's body and signature."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from .. import subscriptions
from ..store.reuse_keys import ReuseKeys, key_hash
from ..store.subscriptions import SubscriptionStore
from .deps import iso_utc

router = APIRouter(prefix="/api/v1/subscriptions", tags=["alert subscriptions"])


def _key(request: Request) -> str:
    key = request.headers.get("x-api-key")
    if not key or len(key) > 100 or not ReuseKeys.of(request.app.state.store).is_valid(key):
        raise HTTPException(401, "a valid X-API-Key header is required (free: POST /api/v1/reuse/keys) "
                                 "/ une clé d'API valide est requise dans l'en-tête X-API-Key")
    return key


class SubscriptionCreate(BaseModel):
    area: str = Field(..., pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    quantity: str = Field(..., examples=["pm2_5", "pollen_proxy"])
    threshold: float
    url: str = Field(..., max_length=500)
    label: str | None = Field(None, max_length=200, description="your name for it, shown in the messages")


def _public(s: dict) -> dict:
    return {**{k: v for k, v in s.items() if k not in ("changed_at", "created_at")},
            "changed_at": iso_utc(s["changed_at"]), "created_at": iso_utc(s["created_at"])}


@router.post("", status_code=201, summary="Subscribe a webhook to an area's PM or pollen-proxy threshold")
def create(body: SubscriptionCreate, request: Request):
    key = _key(request)
    settings = getattr(request.app.state, "settings", None)
    allow_private = bool(getattr(settings, "webhook_allow_private", False))
    try:
        sub_id, secret = subscriptions.subscribe(request.app.state.store, key, body.area, body.quantity, body.threshold,
                                                 body.url, body.label, allow_private)
    except subscriptions.SubscriptionError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    return JSONResponse({"id": sub_id, "secret": secret, "signature_header": subscriptions.SIGNATURE_HEADER,
                         "timestamp_header": subscriptions.TIMESTAMP_HEADER,
                         "signature": "sha256=HMAC-SHA256(secret, timestamp + '.' + body), hex"},
                        status_code=201, headers={"Cache-Control": "no-store"})


@router.get("", summary="Your subscriptions")
def list_mine(request: Request):
    key = _key(request)
    return {"subscriptions": [_public(s) for s in SubscriptionStore.of(request.app.state.store).of_key(key_hash(key))]}


@router.delete("/{sub_id}", status_code=204, summary="Delete one of your subscriptions")
def delete(request: Request, sub_id: int = Path(..., ge=1, le=2**62)):
    key = _key(request)
    if not SubscriptionStore.of(request.app.state.store).remove(key_hash(key), sub_id):
        raise HTTPException(404, f"no subscription {sub_id} for this key / aucun abonnement {sub_id} pour cette clé")
