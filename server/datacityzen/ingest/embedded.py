"""Ingest inside the embedded broker: a device's PUBLISH is acknowledged only once it is stored.

amqtt answers a QoS 1 PUBLISH with PUBACK as soon as it has queued the message for delivery, before
any subscriber has it. With the broker in the server's process, a crash (SIGKILL, power cut) between
that PUBACK and the store's commit would lose readings the device had already dropped from its
spool. So the embedded broker hands each uplink and status to `DurableIngest.store()` and sends the
PUBACK after it returns (broker_plugins.DurableDelivery); the commit happens in one worker thread,
in batches, exactly as MqttIngest does for an external broker.

If the store fails (disk full), the batch is retried every second and no PUBACK goes out: the
device keeps the readings and sends them again after it reconnects, and the store's idempotence on
(device, seq) absorbs the repeat.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from datetime import datetime, timezone

from .pipeline import Ingestor, Message

log = logging.getLogger(__name__)


class DurableIngest:
    def __init__(self, ingestor: Ingestor, max_batch: int = 500, max_wait_s: float = 0.02):
        self.ingestor = ingestor
        self.max_batch, self.max_wait_s = max_batch, max_wait_s
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        # Same counters and readiness flag as MqttIngest, so the service and its tests see one shape.
        self.connected = threading.Event()
        self.totals = {"stored": 0, "duplicates": 0, "quarantined": 0, "statuses": 0}
        self._worker = threading.Thread(target=self._run, name="embedded-ingest", daemon=True)

    def start(self) -> None:
        self._worker.start()
        self.connected.set()

    def stop(self) -> None:
        self._stop.set()
        self._worker.join(timeout=10)
        self.connected.clear()

    async def store(self, topic: str, payload: bytes) -> None:
        """Called on the broker's loop; returns once the message is committed (stored or quarantined)."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._queue.put((Message(topic, bytes(payload), datetime.now(timezone.utc), "mqtt"), loop, done))
        await done

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(self._queue.get(timeout=remaining))
                except queue.Empty:
                    break
            self._commit(batch)

    def _commit(self, batch) -> None:
        messages = [m for m, _, _ in batch]
        while True:
            try:
                result = self.ingestor.handle(messages)
                break
            except Exception:  # the store failed: no PUBACK; retry, the devices keep their readings
                log.exception("storing %d messages failed; retrying in 1 s", len(messages))
                if self._stop.wait(1.0):
                    return  # shutting down: never acknowledged, so the devices send them again
        for key in self.totals:
            self.totals[key] += getattr(result, key)
        for _, loop, done in batch:
            loop.call_soon_threadsafe(_resolve, done)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
