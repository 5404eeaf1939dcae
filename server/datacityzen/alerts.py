"""Alerts a host chose (silence for N hours, a threshold crossed, a sensor error), evaluated by a
background job in `serve` and sent by e-mail (the server's SMTP settings) or to a webhook.

An alert fires when its condition becomes true (edge-triggered: one message, not one per run) and
re-arms when the condition clears. Each firing is recorded with its delivery outcome and shown on the
host's page. Webhook targets may not be loopback or private addresses unless the server allows it
(`--webhook-allow-private`), checked when the alert is saved and again before each delivery.
Delivery errors are recorded by kind (never the URL, which may hold a secret, nor SMTP credentials).
"""
from __future__ import annotations

import ipaddress
import json
import logging
import smtplib
import socket
import threading
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from urllib.parse import urlsplit

from .quantities import QUANTITIES
from .store.host_data import HostData
from .store.registry import EMAIL, RegistryError

log = logging.getLogger(__name__)
FRESH = timedelta(hours=2)


def _check_public_host(hostname: str, port: int, allow_private: bool) -> None:
    try:
        infos = socket.getaddrinfo(hostname, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        raise RegistryError(f"webhook host {hostname!r} does not resolve / hôte introuvable") from None
    if allow_private:
        return
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_reserved or addr.is_multicast \
                or addr.is_unspecified:
            raise RegistryError("webhook: this server does not send to private or local addresses / "
                                "ce serveur n'envoie pas vers des adresses privées ou locales")


def check_target(channel: str, target: str, settings) -> None:
    if channel == "email":
        if not EMAIL.match(target or ""):
            raise RegistryError("e-mail: give an address like name@example.org / donnez une adresse valide")
    elif channel == "webhook":
        parts = urlsplit(target or "")
        if parts.scheme not in ("http", "https") or not parts.hostname or len(target) > 300:
            raise RegistryError("webhook: give an http:// or https:// URL / donnez une URL http(s)")
        _check_public_host(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                           getattr(settings, "webhook_allow_private", False))
    else:
        raise RegistryError("channel: e-mail or webhook / e-mail ou webhook")


def send_email(settings, to: str, subject: str, body: str) -> None:
    if not settings.smtp_host:
        raise RuntimeError("e-mail is not configured on this server (--smtp-host)")
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password or "")
        smtp.send_message(msg)


def post_webhook(settings, url: str, payload: dict) -> None:
    parts = urlsplit(url)
    _check_public_host(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                       getattr(settings, "webhook_allow_private", False))
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "User-Agent": "datacityzen-alerts"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (scheme checked above)
        if not 200 <= resp.status < 300:
            raise RuntimeError(f"HTTP {resp.status}")


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, RegistryError):
        return str(exc)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return "SMTP authentication failed"
    if isinstance(exc, smtplib.SMTPException):
        return f"SMTP error ({type(exc).__name__})"
    if isinstance(exc, (ConnectionError, socket.timeout, TimeoutError, urllib.error.URLError, OSError)):
        return f"connection failed ({type(exc).__name__})"
    if isinstance(exc, RuntimeError):
        return str(exc)
    return type(exc).__name__


class AlertJob:
    """Evaluates every alert; `run_once` for tests, `start`/`stop` for the server's background thread."""

    def __init__(self, store, registry, settings):
        self.store, self.registry, self.settings = store, registry, settings
        self.data = HostData(store)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- conditions ------------------------------------------------------------------------------
    def _condition(self, alert: dict, now: datetime) -> tuple[bool | None, str, str]:
        """(firing?, message en, message fr); firing None when it cannot be judged yet."""
        device = alert["device"]
        name = (self.registry.device(device) or {}).get("name", device)
        last = self.data.last_reading(device)
        if alert["kind"] == "silence":
            since = last["received_at"] if last else (self.registry.device(device) or {}).get("created_at")
            if since is None:
                return None, "", ""
            silent = now - since > timedelta(hours=alert["hours"])
            h = f"{alert['hours']:g}"
            return (silent, f"Your kit {device} ({name}) has sent nothing for more than {h} h.",
                    f"Votre kit {device} ({name}) n'a rien envoyé depuis plus de {h} h.")
        if alert["kind"] == "threshold":
            latest = self.data.latest(device, now - FRESH).get(alert["quantity"])
            if latest is None:
                return None, "", ""
            v, q = latest["value"], alert["quantity"]
            firing = v > alert["threshold"] if alert["op"] == "above" else v < alert["threshold"]
            meta = QUANTITIES[q]
            value = f"{v:.{meta['decimals']}f} {meta['unit']}"
            limit = f"{alert['threshold']:g} {meta['unit']}"
            op_en = "above" if alert["op"] == "above" else "below"
            op_fr = "au-dessus de" if alert["op"] == "above" else "en dessous de"
            return (firing, f"{meta['label']['en']} at {name} ({device}) is {value}, {op_en} {limit}.",
                    f"{meta['label']['fr']} chez {name} ({device}) : {value.replace('.', ',')}, {op_fr} "
                    f"{limit.replace('.', ',')}.")
        # sensor error: the latest reading reports one
        if last is None:
            return None, "", ""
        errors = json.loads(last["errors"]) if last["errors"] else []
        what = ", ".join(f"{e.get('sensor')}: {e.get('error')}" for e in errors)
        return (bool(errors), f"Your kit {device} ({name}) reports a sensor error: {what}.",
                f"Votre kit {device} ({name}) signale une erreur de capteur : {what}.")

    def _deliver(self, alert: dict, en: str, fr: str, now: datetime) -> tuple[bool, str | None]:
        try:
            if alert["channel"] == "email":
                send_email(self.settings, alert["target"], f"DataCityZen : alerte / alert ({alert['device']})",
                           f"{fr}\n\n{en}\n\n-- DataCityZen")
            else:
                post_webhook(self.settings, alert["target"], {
                    "device": alert["device"], "alert_id": alert["id"], "kind": alert["kind"],
                    "at": now.replace(tzinfo=timezone.utc).isoformat().replace("+00:00", "Z"),
                    "message_en": en, "message_fr": fr})
            return True, None
        except Exception as exc:  # recorded and shown to the host; the job goes on
            reason = _describe_error(exc)
            log.warning("alert %s for %s not delivered: %s", alert["id"], alert["device"], reason)
            return False, reason

    def run_once(self, now: datetime | None = None) -> int:
        """Evaluate every alert once; returns how many fired."""
        now = now or datetime.now(timezone.utc).replace(tzinfo=None)
        fired = 0
        for alert in self.registry.alerts():
            firing, en, fr = self._condition(alert, now)
            if firing is None:
                continue
            if firing and alert["state"] != "firing":
                delivered, error = self._deliver(alert, en, fr, now)
                self.registry.record_alert_event(alert["id"], alert["device"], now, en, fr, delivered, error)
                self.registry.set_alert_state(alert["id"], "firing", now)
                fired += 1
            elif not firing and alert["state"] == "firing":
                self.registry.set_alert_state(alert["id"], "ok", now)
        return fired

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.alert_interval_s):
            try:
                self.run_once()
                self.registry.sweep_deleted_periods()
            except Exception:
                log.exception("alert job failed; trying again next time")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="alerts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
