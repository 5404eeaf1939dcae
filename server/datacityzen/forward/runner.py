"""Fill the outbox from stored readings and drain it, with retries and exponential back-off.

`Forwarder.run_once()` does one pass: for every target, new readings become outbox rows (the peer's
exact body), then due rows are sent. A failed attempt that is worth retrying waits
`min(BASE_DELAY * 2**attempts, MAX_DELAY)`; a refused one is marked failed with the peer's answer.
Sensor.Community stamps data with its arrival time, so rows older than `SC_MAX_AGE` are expired rather
than sent late under a wrong time; openSenseMap takes `createdAt`, so its backlog is sent whatever its age.
Readings a host keeps private (paused publication, deleted periods) are never forwarded.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

from ..store.forward_outbox import ForwardOutbox
from . import formats, senders

log = logging.getLogger(__name__)

BASE_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(hours=1)
SC_MAX_AGE = timedelta(minutes=30)
MAX_ATTEMPTS = 50


def backoff(attempts: int) -> timedelta:
    return min(BASE_DELAY * (2 ** min(attempts, 20)), MAX_DELAY)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _hidden(store, device: str):
    """A function time -> bool telling whether the host keeps the reading private (None: no registry)."""
    try:
        from ..store.registry import Registry
    except ImportError:  # registration not installed: nothing is hidden
        return lambda t: False
    registry = Registry.of(store)
    hidden = registry.hidden_periods([device])
    return lambda t: not registry.is_public(device, t, hidden)


class Forwarder:
    def __init__(self, store, clock=_now, timeout: float = 10.0):
        self.store = store
        self.outbox = ForwardOutbox.of(store)
        self.clock = clock
        self.timeout = timeout

    def enqueue(self) -> int:
        now = self.clock()
        total = 0
        for target in self.outbox.targets():
            readings = self.outbox.new_readings(target)
            if not readings:
                continue
            is_hidden = _hidden(self.store, target["device"])
            rows = []
            for (seq, time), values in readings.items():
                if is_hidden(time):
                    rows.append((seq, time, "", None, "skipped"))
                    continue
                parts = self._parts(target, values, time)
                rows.extend((seq, time, part, body, "pending") for part, body in parts)
                if not parts:
                    rows.append((seq, time, "", None, "skipped"))
            total += self.outbox.enqueue(target["device"], target["peer"], rows, now)
        return total

    @staticmethod
    def _parts(target: dict, values: dict[str, float], time: datetime) -> list[tuple[str, str]]:
        if target["peer"] == "sensor-community":
            return [(str(pin), json.dumps(body)) for pin, body in formats.sensor_community_bodies(values)]
        measurements = formats.opensensemap_measurements(values, time, target["settings"].get("sensors", {}))
        return [("all", json.dumps(measurements))] if measurements else []

    def drain(self) -> dict[str, int]:
        stats = {"sent": 0, "retry": 0, "failed": 0, "expired": 0}
        for target in self.outbox.targets(with_secret=True):
            device, peer = target["device"], target["peer"]
            now = self.clock()
            if peer == "sensor-community":
                stats["expired"] += self.outbox.expire_older_than(device, peer, now - SC_MAX_AGE, now)
                for row in self.outbox.due(device, peer, now):
                    outcome = senders.send_sensor_community(
                        target["base_url"], target["settings"]["sensor_id"], int(row["part"]),
                        json.loads(row["body"]), self.timeout)
                    self._record(device, peer, [row], outcome, stats)
                    if outcome.retry and not outcome.ok:
                        break  # the peer is down: try the rest later, oldest first
            else:
                due = self.outbox.due(device, peer, now, limit=formats.OSEM_MAX_MEASUREMENTS)
                batch, count = [], 0
                for row in due:  # as many readings as fit in one request of at most 2,500 values
                    n = len(json.loads(row["body"]))
                    if batch and count + n > formats.OSEM_MAX_MEASUREMENTS:
                        break
                    batch.append(row)
                    count += n
                if batch:
                    measurements = [m for row in batch for m in json.loads(row["body"])]
                    outcome = senders.send_opensensemap(target["base_url"], target["settings"]["box_id"],
                                                        target.get("secret"), measurements, self.timeout)
                    self._record(device, peer, batch, outcome, stats)
        return stats

    def _record(self, device, peer, rows, outcome: senders.Outcome, stats) -> None:
        keys = [(r["seq"], r["part"]) for r in rows]
        now = self.clock()
        if outcome.ok:
            self.outbox.mark(device, peer, keys, "sent", now)
            stats["sent"] += len(rows)
        elif outcome.retry and max(r["attempts"] for r in rows) + 1 < MAX_ATTEMPTS:
            self.outbox.mark(device, peer, keys, "pending", now, outcome.detail,
                             retry_in=backoff(max(r["attempts"] for r in rows)))
            stats["retry"] += len(rows)
        else:
            self.outbox.mark(device, peer, keys, "failed", now, outcome.detail)
            stats["failed"] += len(rows)
            log.warning("forwarding %s to %s refused: %s", device, peer, outcome.detail)

    def run_once(self) -> dict[str, int]:
        queued = self.enqueue()
        stats = self.drain()
        stats["queued"] = queued
        return stats
