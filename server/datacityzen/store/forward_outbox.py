"""Forwarding targets and the durable outbox, in the store's DuckDB database.

- `forward_targets`: one row per (device, peer): where to send (base URL) and the peer's identity for
  the device (Sensor.Community: the sensor id sent as X-Sensor; openSenseMap: box id, sensor ids per
  quantity, and the box's access token, which must be stored to be sent; it is never listed or logged).
- `forward_outbox`: one row per (device, seq, peer, part) with the exact body to send, its attempts and
  the time of the next one. Rows are made from stored readings (`enqueue_new`), so a reading stored
  while the forwarder was down or the peer unreachable is still sent later: nothing lives only in memory.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
from .side_table import SideTable

PEERS = ("sensor-community", "opensensemap")

SCHEMA = """
CREATE TABLE IF NOT EXISTS forward_targets (
    device VARCHAR NOT NULL,
    peer VARCHAR NOT NULL,
    base_url VARCHAR NOT NULL,
    settings VARCHAR NOT NULL,      -- JSON: sensor_id (SC) or box_id + sensors (openSenseMap)
    secret VARCHAR,                 -- openSenseMap box access token (sent in Authorization; never shown)
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (device, peer)
);
CREATE TABLE IF NOT EXISTS forward_outbox (
    device VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    peer VARCHAR NOT NULL,
    part VARCHAR NOT NULL,          -- SC: the X-PIN; openSenseMap: 'all'; '' when nothing to send
    time TIMESTAMP NOT NULL,        -- the reading's time
    body VARCHAR,                   -- JSON to send
    state VARCHAR NOT NULL,         -- pending | sent | failed | expired | skipped
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP,
    last_error VARCHAR,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP,
    PRIMARY KEY (device, seq, peer, part)
);
"""



def naive(t: datetime) -> datetime:
    return t if t.tzinfo is None else t.astimezone(timezone.utc).replace(tzinfo=None)


class ForwardOutbox(SideTable):
    SCHEMA = SCHEMA

    # -- targets -----------------------------------------------------------------------------------
    def set_target(self, device: str, peer: str, base_url: str, settings: dict, secret: str | None,
                   now: datetime | None = None) -> None:
        if peer not in PEERS:
            raise ValueError(f"peer {peer!r}: use one of {', '.join(PEERS)}")
        with self._lock:
            self._con.cursor().execute(
                "INSERT INTO forward_targets VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device, peer) DO UPDATE "
                "SET base_url = excluded.base_url, settings = excluded.settings, secret = excluded.secret",
                [device, peer, base_url.rstrip("/"), json.dumps(settings, sort_keys=True), secret,
                 naive(now or datetime.now(timezone.utc))])

    def remove_target(self, device: str, peer: str) -> bool:
        with self._lock:
            cur = self._con.cursor()
            try:
                n = cur.execute("DELETE FROM forward_targets WHERE device = ? AND peer = ? RETURNING 1",
                                [device, peer]).fetchall()
                cur.execute("DELETE FROM forward_outbox WHERE device = ? AND peer = ? AND state = 'pending'",
                            [device, peer])
            finally:
                cur.close()
        return bool(n)

    def targets(self, with_secret: bool = False) -> list[dict]:
        rows = self._q("SELECT device, peer, base_url, settings, secret, created_at FROM forward_targets "
                           "ORDER BY device, peer")
        out = []
        for device, peer, url, settings, secret, created in rows:
            d = {"device": device, "peer": peer, "base_url": url, "settings": json.loads(settings),
                 "created_at": created}
            if with_secret:
                d["secret"] = secret
            out.append(d)
        return out

    # -- outbox ------------------------------------------------------------------------------------
    def new_readings(self, target: dict, limit: int = 5000) -> dict[tuple[int, datetime], dict[str, float]]:
        """Readings of the target's device stored since the target was set up and not yet in the outbox:
        {(seq, time): {quantity: value}}."""
        rows = self._q(
            """WITH todo AS (
                   SELECT r.device, r.seq, r.time FROM raw_readings r
                   WHERE r.device = ? AND r.received_at >= ?
                     AND NOT EXISTS (SELECT 1 FROM forward_outbox o
                                     WHERE o.device = r.device AND o.seq = r.seq AND o.peer = ?)
                   ORDER BY r.seq LIMIT ?)
               SELECT todo.seq, todo.time, v.quantity, v.value
               FROM todo LEFT JOIN raw_values v USING (device, seq) ORDER BY todo.seq""",
            [target["device"], target["created_at"], target["peer"], limit])
        out: dict[tuple[int, datetime], dict[str, float]] = {}
        for seq, time, quantity, value in rows:
            vals = out.setdefault((int(seq), time), {})  # a reading without values still gets a row
            if quantity is not None:
                vals[quantity] = float(value)
        return out

    def enqueue(self, device: str, peer: str, rows: list[tuple[int, datetime, str, str | None, str]],
                now: datetime) -> int:
        """rows: (seq, time, part, body JSON or None, state)."""
        if not rows:
            return 0
        n = len(rows)
        batch = {
            "device": np.full(n, device, dtype=object),
            "seq": np.array([r[0] for r in rows], dtype=np.int64),
            "peer": np.full(n, peer, dtype=object),
            "part": np.array([r[2] for r in rows], dtype=object),
            "time": np.array([naive(r[1]) for r in rows], dtype="datetime64[us]"),
            "body": np.array([r[3] for r in rows], dtype=object),
            "state": np.array([r[4] for r in rows], dtype=object),
            "next_attempt_at": np.full(n, np.datetime64(naive(now), "us")),
            "created_at": np.full(n, np.datetime64(naive(now), "us")),
        }
        with self._lock:
            cur = self._con.cursor()
            try:
                cur.register("outbox_batch", batch)
                cur.execute(
                    """INSERT INTO forward_outbox (device, seq, peer, part, time, body, state, attempts,
                                                   next_attempt_at, created_at)
                       SELECT device, seq, peer, part, time, body, state, 0, next_attempt_at, created_at
                       FROM outbox_batch ON CONFLICT DO NOTHING""")
            finally:
                cur.close()
        return n

    def due(self, device: str, peer: str, now: datetime, limit: int = 500) -> list[dict]:
        rows = self._q(
            "SELECT seq, part, time, body, attempts FROM forward_outbox WHERE device = ? AND peer = ? "
            "AND state = 'pending' AND next_attempt_at <= ? ORDER BY time, seq, part LIMIT ?",
            [device, peer, naive(now), limit])
        return [{"seq": s, "part": p, "time": t, "body": b, "attempts": a} for s, p, t, b, a in rows]

    def mark(self, device: str, peer: str, keys: list[tuple[int, str]], state: str, now: datetime,
             error: str | None = None, retry_in: timedelta | None = None) -> None:
        """Record the outcome of an attempt for the rows `keys` ((seq, part))."""
        if not keys:
            return
        batch = {"seq": np.array([k[0] for k in keys], dtype=np.int64),
                 "part": np.array([k[1] for k in keys], dtype=object)}
        next_at = naive(now + retry_in) if retry_in is not None else None
        with self._lock:
            cur = self._con.cursor()
            try:
                cur.register("mark_batch", batch)
                cur.execute(
                    """UPDATE forward_outbox o SET state = ?, attempts = o.attempts + 1, last_error = ?,
                              next_attempt_at = coalesce(?, o.next_attempt_at),
                              sent_at = CASE WHEN ? = 'sent' THEN ? ELSE o.sent_at END
                       FROM mark_batch m
                       WHERE o.device = ? AND o.peer = ? AND o.seq = m.seq AND o.part = m.part""",
                    [state, error, next_at, state, naive(now), device, peer])
            finally:
                cur.close()

    def expire_older_than(self, device: str, peer: str, cutoff: datetime, now: datetime) -> int:
        with self._lock:
            cur = self._con.cursor()
            try:
                rows = cur.execute(
                    "UPDATE forward_outbox SET state = 'expired', last_error = 'too old for a peer that "
                    "stamps data on arrival' WHERE device = ? AND peer = ? AND state = 'pending' AND time < ? "
                    "RETURNING 1", [device, peer, naive(cutoff)]).fetchall()
            finally:
                cur.close()
        return len(rows)

    def counts(self) -> list[dict]:
        rows = self._q("SELECT device, peer, state, count(*) FROM forward_outbox WHERE part <> '' "
                           "GROUP BY ALL ORDER BY ALL")
        return [{"device": d, "peer": p, "state": s, "count": int(n)} for d, p, s, n in rows]

    def rows(self, device: str, peer: str) -> list[dict]:
        rows = self._q("SELECT seq, part, state, attempts, last_error, sent_at FROM forward_outbox "
                           "WHERE device = ? AND peer = ? ORDER BY seq, part", [device, peer])
        keys = ("seq", "part", "state", "attempts", "last_error", "sent_at")
        return [dict(zip(keys, r)) for r in rows]
