"""The embedded MQTT broker (amqtt, MQTT 3.1.1) running in the server's process.

It runs on its own asyncio loop in a background thread. With a `BrokerPolicy` (broker_plugins.py) it
checks every client's credentials and topics, and stores each device's uplink before acknowledging
it (ingest/embedded.py); without one (tests of the broker alone) it is an open broker.
"""
from __future__ import annotations

import asyncio
import logging
import threading

log = logging.getLogger(__name__)


def _broker_class():
    from amqtt.broker import Broker

    from .broker_plugins import DurableDelivery

    class GuardedBroker(Broker):
        async def _broadcast_message(self, session, topic, data, qos=None):
            # A device's last will (its "offline" status) is published by the broker itself, not
            # through the session's delivery queue: store it like the statuses the device sends.
            queue = getattr(session, "delivered_message_queue", None)
            if (isinstance(queue, DurableDelivery) and getattr(session, "will_flag", False)
                    and topic == session.will_topic and data == session.will_message):
                await queue.store_will(topic, data)
            return await super()._broadcast_message(session, topic, data, qos)

    return GuardedBroker


class EmbeddedBroker:
    def __init__(self, host: str = "127.0.0.1", port: int = 1883, policy=None):
        self.host, self.port = host, port
        self.policy = policy
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def _config(self) -> dict:
        if self.policy is None:
            plugins = {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
        else:
            plugins = {"datacityzen.broker_plugins.DeviceGuard": {"policy": self.policy}}
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": plugins,
        }

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        try:
            self._broker = _broker_class()(self._config(), loop=self._loop)
            self._loop.run_until_complete(self._broker.start())
        except BaseException as exc:  # surfaced to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._broker.shutdown())
        self._loop.close()

    def start(self, timeout_s: float = 15.0) -> None:
        # amqtt logs every connection at INFO; keep the server's log readable.
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._thread = threading.Thread(target=self._run, name="amqtt-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError(f"embedded MQTT broker did not start on {self.host}:{self.port}")
        if self._error is not None:
            raise RuntimeError(
                f"embedded MQTT broker could not listen on {self.host}:{self.port}: {self._error}"
            ) from self._error
        log.info("embedded MQTT broker listening on %s", self.url)

    def stop(self) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=15)
