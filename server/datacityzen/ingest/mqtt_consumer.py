"""MQTT ingest: subscribe to every device's uplink and status topics and feed the Ingestor.

Messages are acknowledged to the broker (PUBACK) only after the store committed them, with paho's
manual acknowledgement: if the store fails (disk full, crash), the broker redelivers. The session is
persistent (clean_session false, fixed client id) so a broker such as mosquitto queues QoS 1
messages while the server is away.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import datetime, timezone

import paho.mqtt.client as mqtt

from .pipeline import Ingestor, Message

log = logging.getLogger(__name__)

SUBSCRIPTIONS = [("dcz/v1/+/up", 1), ("dcz/v1/+/status", 1)]


class MqttIngest:
    def __init__(
        self,
        ingestor: Ingestor,
        host: str,
        port: int,
        client_id: str = "datacityzen-ingest",
        username: str | None = None,
        password: str | None = None,
        max_batch: int = 500,
        max_wait_s: float = 0.05,
    ):
        self.ingestor = ingestor
        self.host, self.port = host, port
        self.max_batch, self.max_wait_s = max_batch, max_wait_s
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self.connected = threading.Event()
        self.totals = {"stored": 0, "duplicates": 0, "quarantined": 0, "statuses": 0}
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        if username:
            self._client.username_pw_set(username, password)
        # Bound the in-flight window (paho fails past 65,535 queued QoS 1 messages).
        self._client.max_inflight_messages_set(1000)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._worker = threading.Thread(target=self._run_worker, name="mqtt-ingest", daemon=True)

    # paho callbacks (network thread) -----------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("MQTT broker refused the ingest connection: %s", reason_code)
            return
        client.subscribe(SUBSCRIPTIONS)
        self.connected.set()
        log.info("ingest connected to mqtt://%s:%s", self.host, self.port)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected.clear()
        if not self._stop.is_set():
            log.warning("ingest lost the MQTT broker (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, msg):
        self._queue.put((msg, datetime.now(timezone.utc)))

    # worker ---------------------------------------------------------------------------------------
    def _run_worker(self):
        while not self._stop.is_set() or not self._queue.empty():
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
            self._process(batch)

    def _process(self, batch):
        messages = [Message(m.topic, bytes(m.payload), at, "mqtt") for m, at in batch]
        while True:
            try:
                result = self.ingestor.handle(messages)
                break
            except Exception:  # the store failed: do not acknowledge; retry, the broker keeps them
                log.exception("storing %d messages failed; retrying in 1 s", len(messages))
                if self._stop.wait(1.0):
                    return
        for key in self.totals:
            self.totals[key] += getattr(result, key)
        for m, _ in batch:
            if m.qos > 0:
                self._client.ack(m.mid, m.qos)

    # lifecycle ------------------------------------------------------------------------------------
    def start(self, wait_s: float = 10.0) -> None:
        self._worker.start()
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()
        if not self.connected.wait(wait_s):
            log.warning("ingest not yet connected to mqtt://%s:%s; it keeps trying", self.host, self.port)

    def stop(self) -> None:
        self._stop.set()
        self._worker.join(timeout=10)
        self._client.disconnect()
        self._client.loop_stop()
