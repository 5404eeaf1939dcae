"""White-label alert subscriptions: a reuser (API key) asks to be told, by webhook, when PM2.5 or the
pollen proxy in an area crosses a threshold, and when it falls back.

Each notification is a JSON POST signed like common webhook providers: headers
`X-DataCityZen-Timestamp: <unix seconds>` and
`X-DataCityZen-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`, the secret being the
one returned once when the subscription was made. Receivers recompute the HMAC over the raw body and
reject stale timestamps (replays). Deliveries are queued in the database in the same transaction as the
state change, then sent with retries (`BASE_DELAY * 2**attempts`, up to `MAX_ATTEMPTS`).

Hysteresis: the alert fires when the area value exceeds the threshold and clears when it falls below
`threshold * CLEAR_RATIO`, so a value hovering at the threshold does not send a storm of messages.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from . import embed
from .forward import senders
from .store.reuse_keys import key_hash
from .store.subscriptions import SubscriptionStore

log = logging.getLogger(__name__)

QUANTITIES = ("pm2_5", "pm10", "pollen_proxy")
CLEAR_RATIO = 0.9
BASE_DELAY = timedelta(seconds=30)
MAX_ATTEMPTS = 8
MAX_PER_KEY = 50
SIGNATURE_HEADER = "X-DataCityZen-Signature"
TIMESTAMP_HEADER = "X-DataCityZen-Timestamp"


class SubscriptionError(ValueError):
    def __init__(self, en: str, fr: str, status: int = 400):
        super().__init__(f"{en} / {fr}")
        self.status = status


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def check_url(url: str, allow_private: bool) -> str:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 500:
        raise SubscriptionError("url must be an http(s) URL of at most 500 characters", "l'URL doit être http(s), 500 caractères au plus")
    if not allow_private:
        try:
            infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
        except OSError:
            raise SubscriptionError(f"cannot resolve {parts.hostname}", f"impossible de résoudre {parts.hostname}") from None
        for info in infos:
            ip = ipaddress.ip_address(info[4][0])
            if not ip.is_global:
                raise SubscriptionError("webhooks to private or loopback addresses are refused",
                                        "les webhooks vers des adresses privées ou locales sont refusés")
    return url


def subscribe(store, api_key: str, area: str, quantity: str, threshold: float, url: str, label: str | None,
              allow_private: bool) -> tuple[int, str]:
    from .store.consolidated import for_store

    if quantity not in QUANTITIES:
        raise SubscriptionError(f"quantity must be one of {', '.join(QUANTITIES)}", f"la grandeur doit être parmi {', '.join(QUANTITIES)}")
    if for_store(store).area(area) is None:
        raise SubscriptionError(f"no area {area!r} (see /api/v1/areas)", f"aucune zone {area!r}", 404)
    if not (threshold == threshold and 0 < threshold < 1e6):
        raise SubscriptionError("threshold must be a number above 0", "le seuil doit être un nombre positif")
    label = " ".join((label or "").split())[:80] or None
    url = check_url(url, allow_private)
    subs = SubscriptionStore.of(store)
    if len(subs.of_key(key_hash(api_key))) >= MAX_PER_KEY:
        raise SubscriptionError(f"at most {MAX_PER_KEY} subscriptions per key", f"{MAX_PER_KEY} abonnements par clé au plus", 429)
    secret = secrets.token_hex(32)
    return subs.add(key_hash(api_key), area, quantity, float(threshold), url, label, secret), secret


def _utc(t: datetime) -> str:
    return t.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


class SubscriptionJob:
    def __init__(self, store, clock=lambda: datetime.now(timezone.utc).replace(tzinfo=None), timeout: float = 10.0):
        self.store = store
        self.subs = SubscriptionStore.of(store)
        self.clock = clock
        self.timeout = timeout

    def evaluate(self) -> int:
        """Compare each subscription's area value with its threshold; queue a message on each change."""
        now = self.clock()
        changed = 0
        for s in self.subs.all():
            area = embed.area_latest(self.store, s["area"], now)
            value = (area or {}).get("values", {}).get(s["quantity"], {}).get("value")
            if value is None:
                continue
            if s["state"] == "ok" and value > s["threshold"]:
                state = "firing"
            elif s["state"] == "firing" and value < s["threshold"] * CLEAR_RATIO:
                state = "ok"
            else:
                continue
            label = s["label"] or area["name"]
            what = "pollen proxy" if s["quantity"] == "pollen_proxy" else s["quantity"].upper().replace("_", ".")
            quoi = "indicateur pollen" if s["quantity"] == "pollen_proxy" else what.replace(".", ",")
            if state == "firing":
                en = f"{label}: {what} at {value:.1f}, above {s['threshold']:g}"
                fr = f"{label} : {quoi} à {value:.1f}, au-dessus de {s['threshold']:g}".replace(".", ",")
            else:
                en = f"{label}: {what} back to {value:.1f}, below {s['threshold']:g}"
                fr = f"{label} : {quoi} revenu à {value:.1f}, sous {s['threshold']:g}".replace(".", ",")
            body = json.dumps({"subscription": s["id"], "area": s["area"], "label": s["label"], "quantity": s["quantity"],
                               "value": round(value, 3), "threshold": s["threshold"], "state": state, "time": _utc(now),
                               "message": {"en": en, "fr": fr}, "licence": "ODbL-1.0"}, ensure_ascii=False)
            self.subs.set_state(s["id"], state, now, body)
            changed += 1
        return changed

    def deliver(self) -> dict[str, int]:
        stats = {"delivered": 0, "retry": 0, "failed": 0}
        now = self.clock()
        for d in self.subs.due(now):
            body = d["body"].encode()
            ts = int(time.time())
            outcome = senders.post(d["url"], body, {"Content-Type": "application/json", TIMESTAMP_HEADER: str(ts),
                                                    SIGNATURE_HEADER: sign(d["secret"], ts, body)}, self.timeout)
            if outcome.ok:
                self.subs.mark(d["rowid"], "delivered", None, None)
                stats["delivered"] += 1
            elif outcome.retry and d["attempts"] + 1 < MAX_ATTEMPTS:
                self.subs.mark(d["rowid"], "pending", outcome.detail, now + BASE_DELAY * 2 ** d["attempts"])
                stats["retry"] += 1
            else:
                self.subs.mark(d["rowid"], "failed", outcome.detail, None)
                stats["failed"] += 1
        return stats

    def run_once(self) -> dict[str, int]:
        changed = self.evaluate()
        return {"changed": changed, **self.deliver()}


class EcosystemJobs(threading.Thread):
    """Inside `serve`: forwarding and alert subscriptions, every `interval_s` seconds."""

    def __init__(self, store, interval_s: float = 30.0):
        from .forward.runner import Forwarder

        super().__init__(name="ecosystem-jobs", daemon=True)
        self.jobs = (Forwarder(store), SubscriptionJob(store))
        self.interval_s = interval_s
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            for job in self.jobs:
                try:
                    job.run_once()
                except Exception:  # the next pass retries; the queues are in the database
                    log.exception("%s pass failed", type(job).__name__)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)
