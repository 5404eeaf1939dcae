"""Reads for the live feed (`/api/v1/live`, the exhibition page): what arrived lately, and each device's rhythm.

Uses the DuckDBStore's connection (a cursor per call, like its own reads); only reads. `received_at`
is the server's clock when ingest received the message, so "what arrived since t" is a range on it; a
spool flushed after an outage arrives now with old reading times and is still seen.
"""
from __future__ import annotations

from datetime import datetime, timezone
from statistics import median


def _naive_utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        return t
    return t.astimezone(timezone.utc).replace(tzinfo=None)


def last_received_at(store) -> datetime | None:
    """When the newest stored reading arrived (naive UTC), or None when the store is empty."""
    cur = store._con.cursor()
    try:
        return cur.execute("SELECT max(received_at) FROM raw_readings").fetchone()[0]
    finally:
        cur.close()


def received_since(store, since: datetime | None) -> list[dict]:
    """Readings received after `since` (all when None), oldest arrival first.

    Each: {"device", "kit", "seq", "time", "received_at", "values": {q: v}, "flags": {q: [..]}}
    with naive-UTC datetimes.
    """
    where, params = "", []
    if since is not None:
        where = "WHERE r.received_at > ?"
        params.append(_naive_utc(since))
    cur = store._con.cursor()
    try:
        heads = cur.execute(
            f"""SELECT r.device, r.seq, r.time, r.kit, r.received_at FROM raw_readings r {where}
                ORDER BY r.received_at, r.device, r.seq""",
            params,
        ).fetchall()
        if not heads:
            return []
        keys = [[d for d, *_ in heads], [s for _, s, *_ in heads]]
        values = cur.execute(
            """SELECT v.device, v.seq, v.quantity, v.value, v.flags
               FROM raw_values v
               JOIN (SELECT unnest(?) AS device, unnest(?) AS seq) k USING (device, seq)""",
            keys,
        ).fetchall()
    finally:
        cur.close()
    out = {}
    for device, seq, time, kit, received_at in heads:
        out[(device, seq)] = {"device": device, "kit": kit, "seq": seq, "time": time,
                              "received_at": received_at, "values": {}, "flags": {}}
    for device, seq, quantity, value, flags in values:
        reading = out[(device, seq)]
        reading["values"][quantity] = value
        if flags:
            reading["flags"][quantity] = flags.split(",")
    return list(out.values())


def recent_values(store, quantities: list[str], n: int = 6) -> dict[str, dict[str, list[float]]]:
    """Each device's last `n` values of each of `quantities` within the last day, oldest first:
    {device: {quantity: [values]}} (the baselines the exhibition compares new readings with)."""
    cur = store._con.cursor()
    try:
        rows = cur.execute(
            """SELECT device, quantity, value FROM (
                   SELECT device, quantity, value, time, seq,
                          row_number() OVER (PARTITION BY device, quantity ORDER BY time DESC, seq DESC) AS k
                   FROM raw_values WHERE quantity IN (SELECT unnest(?))
                     AND time >= (SELECT max(time) - INTERVAL 1 DAY FROM raw_values))
               WHERE k <= ? ORDER BY device, quantity, time, seq""",
            [list(quantities), n],
        ).fetchall()
    finally:
        cur.close()
    out: dict[str, dict[str, list[float]]] = {}
    for device, quantity, value in rows:
        out.setdefault(device, {}).setdefault(quantity, []).append(value)
    return out


def reading_intervals(store, n: int = 11) -> dict[str, float]:
    """Each device's typical seconds between readings: the median gap of its last `n` reading times.

    Only the last day is read. Devices with fewer than two readings are left out (the caller falls
    back to the kit's interval).
    """
    cur = store._con.cursor()
    try:
        rows = cur.execute(
            """SELECT device, time FROM (
                   SELECT device, time, row_number() OVER (PARTITION BY device ORDER BY time DESC, seq DESC) AS k
                   FROM raw_readings
                   WHERE time >= (SELECT max(time) - INTERVAL 1 DAY FROM raw_readings))
               WHERE k <= ? ORDER BY device, time""",
            [n],
        ).fetchall()
    finally:
        cur.close()
    times: dict[str, list[datetime]] = {}
    for device, t in rows:
        times.setdefault(device, []).append(t)
    out = {}
    for device, ts in times.items():
        gaps = [(b - a).total_seconds() for a, b in zip(ts, ts[1:]) if b > a]
        if gaps:
            out[device] = median(gaps)
    return out
