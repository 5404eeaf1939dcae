"""Data reuse that gives back: free API keys for reusers, the licence and a citation on every export, and
counts of how often each host's data was used (store/usage.py, shown on the host's page).

A key is optional for downloads (open data stays open); with one, downloads are counted per key and the
operator's report (`GET /api/v1/reuse/report`) can thank reusers and tell hosts who uses their data.
"""
from __future__ import annotations

import contextvars
import hashlib
import hmac
import re
import secrets
import time
from datetime import datetime, timezone

from .store.reuse_keys import ReuseKeys

LICENCE = "ODbL-1.0"
LICENCE_URL = "https://opendatacommons.org/licenses/odbl/1-0/"
LICENCE_NAME = "Open Database License (ODbL) v1.0"
MAX_KEYS_PER_DAY = 5
EMAIL = re.compile(r"^[^@\s<>,;\"']{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")

# The API key of the request being served (set by the licence middleware, read where a download is
# counted), so export routes need no extra parameter.
current_api_key: contextvars.ContextVar[str | None] = contextvars.ContextVar("dcz_api_key", default=None)


def citation(base_url: str, path: str, now: datetime | None = None) -> str:
    day = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d")
    year = day[:4]
    return (f"DataCityZen contributors ({year}). Citizen environmental sensing data. {base_url.rstrip('/')}{path} "
            f"(retrieved {day}). {LICENCE_NAME}, {LICENCE_URL}")


def licence_headers(base_url: str, path: str) -> dict[str, str]:
    return {"Link": f'<{LICENCE_URL}>; rel="license"', "X-License": LICENCE,
            "X-Citation": citation(base_url, path)}


class ReuseError(ValueError):
    def __init__(self, en: str, fr: str, status: int = 400):
        super().__init__(f"{en} / {fr}")
        self.status = status


def new_key() -> str:
    return "dcz_" + secrets.token_urlsafe(24)  # 192 bits


def register_key(store, name: str, email: str, purpose: str, client_key: str, clock=time.time) -> str:
    """Issue a key (returned once; only its hash is stored)."""
    name = " ".join(str(name or "").split())
    purpose = " ".join(str(purpose or "").split())
    email = str(email or "").strip()
    if not 1 <= len(name) <= 80:
        raise ReuseError("name: give 1 to 80 characters", "nom : entre 1 et 80 caractères")
    if not EMAIL.match(email):
        raise ReuseError(f"email {email[:60]!r} does not look like name@example.org", "adresse e-mail invalide")
    if not 10 <= len(purpose) <= 500:
        raise ReuseError("purpose: say in 10 to 500 characters what you will build",
                         "usage : dites en 10 à 500 caractères ce que vous allez construire")
    keys = ReuseKeys.of(store)
    since = datetime.fromtimestamp(clock() - 86400, tz=timezone.utc).replace(tzinfo=None)
    if keys.count_since(client_key, since) >= MAX_KEYS_PER_DAY:
        raise ReuseError(f"at most {MAX_KEYS_PER_DAY} keys a day", f"{MAX_KEYS_PER_DAY} clés par jour au plus", 429)
    key = new_key()
    keys.add(key, name, email, purpose, client_key)
    return key


def client_key(store, address: str) -> str:
    from .store.requests_board import BoardStore

    return hmac.new(BoardStore.of(store).secret("reuse-client"), address.encode(), hashlib.sha256).hexdigest()
