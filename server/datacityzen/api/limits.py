"""Request limits: body and query size, and rate limits per client address and per device.

One ASGI middleware (`RequestLimits`) guards every HTTP request before routing:
- a query string longer than `max_query_bytes` gets 414;
- a body longer than `max_body_bytes` gets 413, whether it announces its length or streams it;
- more requests from one address than its token bucket allows get 429 with `Retry-After`.
Routes that ingest a device's readings also call `check_device_rate(request, device)`, a second
bucket per device id, so one device cannot flood the store through many addresses.

Token bucket: each key holds up to `burst` tokens, refilled at `rate` per second; a request takes one.
When none is left the answer is 429 and `Retry-After` says, in whole seconds rounded up, when the next
token is there (RFC 9110 section 10.2.3, RFC 6585 section 4). Clients that honour it lose nothing: a
device keeps the refused reading in its spool and sends it again later.

Limits come from `app.state.limits` (a `Limits`), which defaults to the DCZ_* environment variables
documented in docs/security.md.
"""
from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass

from fastapi import HTTPException, Request

from ..settings import env


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 256 * 1024
    max_query_bytes: int = 8 * 1024
    address_rate: float = 20.0  # requests per second, sustained
    address_burst: int = 200
    device_rate: float = 2.0  # ingest requests per device per second, sustained
    device_burst: int = 60

    @classmethod
    def from_env(cls) -> "Limits":
        d = cls()
        return cls(
            max_body_bytes=int(env("MAX_BODY_BYTES", d.max_body_bytes)),
            max_query_bytes=int(env("MAX_QUERY_BYTES", d.max_query_bytes)),
            address_rate=float(env("RATE_PER_ADDRESS", d.address_rate)),
            address_burst=int(env("RATE_BURST_PER_ADDRESS", d.address_burst)),
            device_rate=float(env("RATE_PER_DEVICE", d.device_rate)),
            device_burst=int(env("RATE_BURST_PER_DEVICE", d.device_burst)),
        )


class TokenBuckets:
    """Thread-safe token buckets keyed by a string; `take(key)` -> 0.0 when allowed, else seconds to wait.

    Buckets that have refilled completely are forgotten, so memory stays bounded by the clients of
    the last `burst / rate` seconds.
    """

    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate, self.burst, self._clock = float(rate), int(burst), clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()
        self._next_prune = 0.0

    def take(self, key: str) -> float:
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            if now >= self._next_prune:
                self._prune(now)
        return wait

    def _prune(self, now: float) -> None:
        full_after = self.burst / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}
        self._next_prune = now + max(1.0, full_after)


def retry_after(wait_s: float) -> str:
    return str(max(1, math.ceil(wait_s)))


def _detail(en: str, fr: str) -> dict:
    return {"en": en, "fr": fr}


def too_many(wait_s: float, who_en: str, who_fr: str) -> HTTPException:
    s = retry_after(wait_s)
    return HTTPException(
        status_code=429,
        detail=_detail(f"too many requests from {who_en}: retry in {s} s",
                       f"trop de requêtes de {who_fr} : réessayez dans {s} s"),
        headers={"Retry-After": s},
    )


def limits_of(app) -> Limits:
    limits = getattr(app.state, "limits", None)
    if limits is None:
        limits = app.state.limits = Limits.from_env()
    return limits


def _buckets(app, name: str, rate: float, burst: int) -> TokenBuckets:
    attr = f"_rate_{name}"
    buckets = getattr(app.state, attr, None)
    if buckets is None or buckets.rate != rate or buckets.burst != burst:
        buckets = TokenBuckets(rate, burst)
        setattr(app.state, attr, buckets)
    return buckets


def check_device_rate(request: Request, device: str) -> None:
    """Raise 429 (with Retry-After) when `device` sent more than its share; call from ingest routes."""
    limits = limits_of(request.app)
    wait = _buckets(request.app, "device", limits.device_rate, limits.device_burst).take(device)
    if wait > 0:
        raise too_many(wait, f"device {device}", f"l'appareil {device}")


def client_address(scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


async def read_body(request: Request, limit: int, too_large_detail) -> bytes:
    """The request body, refused with 413 (`too_large_detail`) once it passes `limit` bytes: a declared
    Content-Length above it before anything is read, a body streamed without one as soon as it grows past
    it (for routes whose limit is below the app-wide one of RequestLimits)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(status_code=413, detail=too_large_detail)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(status_code=413, detail=too_large_detail)
        chunks.append(chunk)
    return b"".join(chunks)


class BodyTooLarge(Exception):
    pass


class RequestLimits:
    """Pure ASGI middleware (so it also sees streamed bodies); see the module docstring."""

    def __init__(self, app, fastapi_app):
        self.app = app
        self.fastapi_app = fastapi_app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limits = limits_of(self.fastapi_app)
        address = client_address(scope)
        wait = _buckets(self.fastapi_app, "address", limits.address_rate, limits.address_burst).take(address)
        if wait > 0:
            exc = too_many(wait, f"address {address}", f"l'adresse {address}")
            return await _reply(send, exc.status_code, exc.detail, exc.headers)
        query = scope.get("query_string", b"")
        if len(query) > limits.max_query_bytes:
            return await _reply(send, 414, _detail(
                f"query string of {len(query)} bytes exceeds {limits.max_query_bytes}",
                f"chaîne de requête de {len(query)} octets, au-delà de {limits.max_query_bytes}"))
        declared = _content_length(scope)
        if declared is not None and declared > limits.max_body_bytes:
            return await _reply(send, 413, _too_large(declared, limits.max_body_bytes))

        received = 0
        started = False

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limits.max_body_bytes:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _reply(send, 413, _too_large(received, limits.max_body_bytes))


def _too_large(size: int, limit: int) -> dict:
    return _detail(f"request body of {size} bytes or more exceeds the {limit}-byte limit",
                   f"corps de requête d'au moins {size} octets, au-delà de la limite de {limit} octets")


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _reply(send, status: int, detail: dict, headers: dict | None = None) -> None:
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def install(app) -> None:
    """Add the limits middleware to a FastAPI app (call once, in create_app)."""
    app.add_middleware(RequestLimits, fastapi_app=app)
