"""The live feed: new readings as the store commits them, fanned out to every open page.

One thread per server tails the store (every `poll_s`, a range read on `received_at`, so every ingest
path is seen: MQTT, HTTP, a spool flushed after an outage) and hands events to each subscriber's
asyncio queue. A subscriber gets a snapshot first (every device's latest values), then `reading`
events. Polling the store once for everyone keeps the ingest pipeline unaware of pages; the latency it
adds is at most `poll_s` (0.5 s), small beside a kit's 5 s reading interval.

Events (dicts; the HTTP layer turns them into Server-Sent Events):
- {"event": "snapshot", "data": {"server_time", "devices": [device summary + kit_name, interval_s, last_time]}}
- {"event": "reading", "id": cursor, "data": {"device", "kit", "seq", "time", "received_at", "values",
  "flags", "interval_s", "backlog", "reactions": [...]}}; when a device's backlog arrives at once
  (a kit back on line empties its spool), only its newest reading is sent, `backlog` counting the others.
- {"event": "end"}: the feed closed (server stopping) or the subscriber fell too far behind; the
  client reconnects and gets a fresh snapshot.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import deque
from datetime import datetime, timedelta, timezone
from statistics import median

from ..api.deps import iso_utc
from ..api.devices import device_summaries
from ..sim.paths import kits_dir
from ..store import live as live_store
from .reactions import ReactionDetector

log = logging.getLogger(__name__)

# Commits can land slightly out of received_at order (two ingest paths, a slow batch): each poll
# re-reads this much behind its cursor and skips what it already sent.
LOOKBACK = timedelta(seconds=10)
MAX_QUEUED = 2000  # events waiting for one page; beyond that it gets "end" and reconnects


def kit_names() -> dict[str, dict]:
    """Kit id -> {"en", "fr"} names, from kits/*.json."""
    out = {}
    for path in sorted(kits_dir().glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        if isinstance(doc, dict) and "id" in doc and "name" in doc:
            out[doc["id"]] = {"name": doc["name"], "interval_s": (doc.get("sampling") or {}).get("interval_s")}
    return out


def _iso_now() -> str:
    return iso_utc(datetime.now(timezone.utc))


class Subscriber:
    def __init__(self, feed: "LiveFeed", loop: asyncio.AbstractEventLoop, devices: set[str] | None):
        self.feed = feed
        self.loop = loop
        self.devices = devices
        self.queue: asyncio.Queue = asyncio.Queue()

    def wants(self, device: str) -> bool:
        return self.devices is None or device in self.devices

    def _put(self, event: dict) -> None:  # runs in the subscriber's event loop
        if self.queue.qsize() >= MAX_QUEUED:
            event = {"event": "end"}
        self.queue.put_nowait(event)

    def offer(self, event: dict) -> None:  # any thread
        try:
            self.loop.call_soon_threadsafe(self._put, event)
        except RuntimeError:  # its loop is gone: the page's connection already ended
            self.feed.unsubscribe(self)

    async def get(self, timeout: float) -> dict | None:
        """The next event, or None after `timeout` seconds without one."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except asyncio.TimeoutError:
            return None

    def close(self) -> None:
        self.feed.unsubscribe(self)


class LiveFeed:
    def __init__(self, store, poll_s: float = 0.5, detector: ReactionDetector | None = None):
        self.store = store
        self.poll_s = poll_s
        self.detector = detector or ReactionDetector()
        self._subscribers: set[Subscriber] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._kits = kit_names()
        self._cursor: datetime | None = None
        self._sent: dict[tuple[str, int], datetime] = {}
        self._times: dict[str, deque] = {}
        self._intervals: dict[str, float] = {}

    # -- subscribers ---------------------------------------------------------------------------
    def subscribe(self, loop: asyncio.AbstractEventLoop, devices: set[str] | None = None,
                  recent: timedelta | None = None) -> Subscriber:
        """A new subscriber; its first event is the snapshot (taken after it joined: nothing is missed)."""
        sub = Subscriber(self, loop, devices)
        with self._lock:
            if self._stop.is_set():
                sub.offer({"event": "end"})
                return sub
            self._subscribers.add(sub)
            self._start()
        snapshot = {"event": "snapshot", "data": self.snapshot(devices, recent)}
        loop.call_soon_threadsafe(sub._put, snapshot)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def close(self) -> None:
        """End every open stream (the server is stopping) and the polling thread."""
        self._stop.set()
        with self._lock:
            subs, self._subscribers = list(self._subscribers), set()
        for sub in subs:
            sub.offer({"event": "end"})
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    # -- what a page shows first ----------------------------------------------------------------
    def interval_of(self, device: str, kit: str | None) -> float | None:
        return self._intervals.get(device) or (self._kits.get(kit) or {}).get("interval_s")

    def snapshot(self, devices: set[str] | None = None, recent: timedelta | None = None) -> dict:
        """Every device's latest values (the same as /api/v1/devices), its kit's name and rhythm.

        `devices`: only these; `recent`: only devices with a reading that recent.
        """
        intervals = live_store.reading_intervals(self.store)
        now = datetime.now(timezone.utc)
        out = []
        for d in device_summaries(self.store):
            if devices is not None and d["id"] not in devices:
                continue
            times = [v["time"] for v in d["latest"].values() if v["time"]]
            d["last_time"] = max(times) if times else None
            if recent is not None:
                if d["last_time"] is None:
                    continue
                last = datetime.fromisoformat(d["last_time"].replace("Z", "+00:00"))
                if now - last > recent:
                    continue
            kit = self._kits.get(d["kit"]) or {}
            d["kit_name"] = kit.get("name") or {"en": d["kit"], "fr": d["kit"]}
            d["interval_s"] = intervals.get(d["id"]) or kit.get("interval_s")
            out.append(d)
        return {"server_time": iso_utc(now), "devices": out}

    # -- the polling thread ----------------------------------------------------------------------
    def _start(self) -> None:
        if self._thread is not None:
            return
        self._cursor = live_store.last_received_at(self.store)
        if self._cursor is not None:  # what is already stored is in the snapshots and the baselines
            for r in live_store.received_since(self.store, self._cursor - LOOKBACK):
                self._sent[(r["device"], r["seq"])] = r["received_at"]
        self._intervals = dict(live_store.reading_intervals(self.store))
        for device, values in live_store.recent_values(self.store, self.detector.quantities,
                                                       self.detector.history).items():
            self.detector.seed(device, values)
        self._thread = threading.Thread(target=self._run, name="live-feed", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                events = self.poll()
            except Exception:  # the store closing under us, or a bug: log, keep the thread alive
                if self._stop.is_set():
                    return
                log.exception("live feed: reading new readings failed; retrying")
                continue
            if not events:
                continue
            with self._lock:
                subs = list(self._subscribers)
            for sub in subs:
                for event in events:
                    if sub.wants(event["data"]["device"]):
                        sub.offer(event)

    def poll(self) -> list[dict]:
        """Read what arrived since the last poll and turn it into events (newest per device)."""
        since = None if self._cursor is None else self._cursor - LOOKBACK
        fresh = [r for r in live_store.received_since(self.store, since)
                 if (r["device"], r["seq"]) not in self._sent]
        if not fresh:
            return []
        for r in fresh:
            self._sent[(r["device"], r["seq"])] = r["received_at"]
            if self._cursor is None or r["received_at"] > self._cursor:
                self._cursor = r["received_at"]
        horizon = self._cursor - 2 * LOOKBACK
        self._sent = {k: t for k, t in self._sent.items() if t >= horizon}
        by_device: dict[str, list[dict]] = {}
        for r in fresh:
            by_device.setdefault(r["device"], []).append(r)
        events = []
        for device, readings in by_device.items():
            readings.sort(key=lambda r: (r["time"], r["seq"]))
            reactions = []
            for r in readings:
                self._track_interval(device, r["time"])
                reactions.extend(x.as_dict() for x in self.detector.observe(device, r["values"]))
            newest = readings[-1]
            events.append({
                "event": "reading",
                "id": newest["received_at"].isoformat(),
                "data": {
                    "device": device,
                    "kit": newest["kit"],
                    "kit_name": (self._kits.get(newest["kit"]) or {}).get("name"),
                    "seq": newest["seq"],
                    "time": iso_utc(newest["time"]),
                    "received_at": iso_utc(newest["received_at"]),
                    "values": newest["values"],
                    "flags": newest["flags"],
                    "interval_s": self.interval_of(device, newest["kit"]),
                    "backlog": len(readings) - 1,
                    "reactions": reactions,
                },
            })
        return events

    def _track_interval(self, device: str, t: datetime) -> None:
        times = self._times.setdefault(device, deque(maxlen=11))
        if times and t <= times[-1]:
            return  # an old reading from a backlog says nothing about the current rhythm
        times.append(t)
        gaps = [(b - a).total_seconds() for a, b in zip(times, list(times)[1:])]
        if len(gaps) >= 2:
            self._intervals[device] = median(gaps)
