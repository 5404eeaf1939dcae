"""The embedded broker's guard (an amqtt plugin): who may connect, which topics each client may use, and
acknowledgement only after storage.

Rules (the same ones broker_config.py writes for mosquitto):
- a device connects with username = its id and the MQTT password it got at registration, and with
  client id = its id (so nobody can take over another device's session); it may publish only
  `dcz/v1/<id>/up` and `dcz/v1/<id>/status` and subscribe only `dcz/v1/<id>/config`;
- the server's own client (`internal` user, a password generated at each start) may read every
  device topic and publish downlink configs;
- anonymous clients are refused unless the server runs with --allow-anonymous (older setups), in
  which case they may use any dcz/v1 topic, as before.
A refused publish is dropped by the broker (MQTT 3.1.1 has no way to refuse one); a refused
subscription gets the failure return code.

Durability: the plugin swaps each session's delivery queue for `DurableDelivery`, whose `put()` for
an allowed uplink or status awaits `DurableIngest.store()` before amqtt sends PUBACK
(see ingest/embedded.py for why).
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin

log = logging.getLogger(__name__)

# An underscore cannot appear in a device id, so no device can ever be registered under this name.
INTERNAL_USER = "datacityzen_server"
_TOPIC = re.compile(r"dcz/v1/([a-z0-9-]{3,40})/(up|status|config)")
_INGEST_KINDS = ("up", "status")


@dataclass
class BrokerPolicy:
    """What the guard needs from the server; `check_device(username, password) -> bool`."""

    check_device: Callable[[str, str], bool] | None = None
    internal_password: str | None = None
    allow_anonymous: bool = False
    ingest: Any = None  # ingest.embedded.DurableIngest, or None: plain delivery


def device_may(device: str, topic: str, action: str) -> bool:
    """May device `device` "publish", "subscribe" to or "receive" (a message on) `topic`? Exact topics only."""
    m = _TOPIC.fullmatch(topic or "")
    if not m or m.group(1) != device:
        return False
    if action == "publish":
        return m.group(2) in _INGEST_KINDS
    return m.group(2) == "config"


def internal_may(topic: str, action: str) -> bool:
    if action == "receive":
        return bool(_TOPIC.fullmatch(topic or ""))
    if action == "subscribe":
        return topic in ("dcz/v1/+/up", "dcz/v1/+/status", "dcz/v1/#") or bool(_TOPIC.fullmatch(topic or ""))
    m = _TOPIC.fullmatch(topic or "")
    return bool(m) and m.group(2) == "config"


def anonymous_may(topic: str, action: str) -> bool:
    return (topic or "").startswith("dcz/v1/")


def may(session, topic: str, action: str) -> bool:
    role = getattr(session, "dcz_role", None)
    if role == "device":
        return device_may(session.username, topic, action)
    if role == "internal":
        return internal_may(topic, action)
    if role == "anonymous":
        return anonymous_may(topic, action)
    return False


class DurableDelivery(asyncio.Queue):
    """A session's delivered-message queue that stores allowed uplinks and statuses before accepting them."""

    def __init__(self, session, ingest):
        super().__init__()
        self._session, self._ingest = session, ingest

    def _wants_topic(self, topic) -> bool:
        m = _TOPIC.fullmatch(topic or "")
        return bool(m) and m.group(2) in _INGEST_KINDS and may(self._session, topic, "publish")

    def _wants(self, message) -> bool:
        return self._wants_topic(message.topic)

    async def put(self, message):  # QoS 1 (before PUBACK) and QoS 2 (before PUBCOMP)
        if message is not None and self._wants(message):
            await self._ingest.store(message.topic, message.data)
        super().put_nowait(message)

    async def store_will(self, topic, data):
        if self._wants_topic(topic):
            await self._ingest.store(topic, data)

    def put_nowait(self, message):  # QoS 0: at most once by definition; stored without waiting
        if message is not None and self._wants(message):
            asyncio.ensure_future(self._ingest.store(message.topic, message.data))
        super().put_nowait(message)


def _policy(plugin) -> BrokerPolicy:
    return plugin.context.config.policy


class DeviceGuard(BaseAuthPlugin, BaseTopicPlugin):
    @dataclass
    class Config:
        policy: Any = field(default_factory=BrokerPolicy)

    async def authenticate(self, *, session) -> bool:
        policy = _policy(self)
        username, password = session.username, session.password or ""
        role = None
        if username == INTERNAL_USER:
            if policy.internal_password and hmac.compare_digest(password.encode(), policy.internal_password.encode()):
                role = "internal"
        elif username:
            if policy.check_device is not None and session.client_id == username:
                ok = await asyncio.get_running_loop().run_in_executor(None, policy.check_device, username, password)
                role = "device" if ok else None
        elif policy.allow_anonymous:
            role = "anonymous"
        if role is not None and getattr(session, "will_flag", False):
            session.dcz_role = role
            if not may(session, session.will_topic, "publish"):
                log.warning("MQTT connection refused: %r sets a last will on %r", username or session.client_id,
                            session.will_topic)
                role = None
        if role is None:
            session.dcz_role = None
            # Names only: a password never reaches a log line.
            log.warning("MQTT connection refused: client id %r, username %r", session.client_id, username)
            return False
        session.dcz_role = role
        if policy.ingest is not None and not isinstance(session.delivered_message_queue, DurableDelivery):
            queue = DurableDelivery(session, policy.ingest)
            while not session.delivered_message_queue.empty():
                queue.put_nowait(session.delivered_message_queue.get_nowait())
            session.delivered_message_queue = queue
        return True

    async def topic_filtering(self, *, session=None, topic=None, action=None) -> bool:
        kind = {Action.PUBLISH: "publish", Action.SUBSCRIBE: "subscribe", Action.RECEIVE: "receive"}.get(action)
        if kind is None or session is None:
            return False
        allowed = may(session, topic, kind)
        if not allowed and kind != "receive":
            log.warning("MQTT %s refused: %r on %r", kind, session.username or session.client_id, topic)
        return allowed
