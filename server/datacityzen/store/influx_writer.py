"""Mirror every stored reading to an InfluxDB-v2-compatible endpoint (InfluxDB 2/3, VictoriaMetrics).

Points use the line protocol: measurement `readings`, tags `device`, `kit` and `layer` (`raw` or
`calibrated`), one float field per quantity id, the measurement time in nanoseconds:

    readings,device=dcz-3f2a9c,kit=air-outdoor-v1,layer=raw pm2_5=12.3,temperature=8.1 1763884800000000000

Durability: the lines are written into an outbox table (`influx_outbox`) in the same DuckDB
transaction that stores the readings (a store insert hook), so a reading is either stored and queued
or neither. A background thread sends the oldest lines through influxdb-client's synchronous write
API and deletes them only after the endpoint accepted them; when the endpoint is down it retries with
exponential back-off (1 s doubling to 60 s). The outbox survives restarts: an endpoint down for an hour
or a server restart loses nothing. Lines the endpoint rejects as malformed (HTTP 400/422) move to
`influx_rejected` with the reason instead of blocking the queue.

Bound: the outbox holds at most `max_pending` lines (DCZ_INFLUX_MAX_PENDING, default 5,000,000: about
600 MB of DuckDB, a week of 100 kits at one reading a minute in both layers, 20 times over). Past it,
while the endpoint stays down, the oldest lines are deleted and each such deletion is recorded in
`influx_dropped` (when, how many, the time span of the points); `stats()` and `/api/v1/health`
report the total, and a warning is logged. DuckDB keeps every reading either way: a dropped line is
missing from the mirror only, and `datacityzen archive` or a re-export can fill it.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone

from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

log = logging.getLogger(__name__)

MEASUREMENT = "readings"

OUTBOX_SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS influx_outbox_id;
CREATE TABLE IF NOT EXISTS influx_outbox (
    id BIGINT NOT NULL DEFAULT nextval('influx_outbox_id'),
    line VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS influx_dropped (
    dropped_at TIMESTAMP NOT NULL,
    lines BIGINT NOT NULL,
    reason VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS influx_rejected (
    id BIGINT NOT NULL,
    line VARCHAR NOT NULL,
    rejected_at TIMESTAMP NOT NULL,
    reason VARCHAR
);
"""


def _tag(expr: str) -> str:
    """SQL escaping a tag value for the line protocol: comma, equals sign and space get a backslash;
    line breaks cannot be escaped and are dropped."""
    return (f"replace(replace(replace(replace(replace({expr}, chr(10), ''), chr(13), ''), ',', '\\,'), "
            f"'=', '\\='), ' ', '\\ ')")


def _line_sql(source: str, layer: str, kit_expr: str) -> str:
    """INSERT INTO the outbox one line per reading of `source` (device, seq, time, quantity, value)."""
    return f"""
        INSERT INTO influx_outbox (line)
        SELECT '{MEASUREMENT},device=' || {_tag('device')}
               || coalesce(',kit=' || nullif({_tag(kit_expr)}, ''), '')
               || ',layer={layer} '
               || string_agg(quantity || '=' || CAST(value AS VARCHAR), ',' ORDER BY quantity)
               || ' ' || CAST(epoch_us(time) AS VARCHAR) || '000'
        FROM ({source})
        WHERE value IS NOT NULL AND isfinite(value)
        GROUP BY device, seq, time, {kit_expr}
        ORDER BY device, seq
    """


# New raw readings of the insert transaction (see DuckDBStore.insert): duplicates inside the batch
# collapse exactly as they do in raw_values.
RAW_SOURCE = """
    SELECT DISTINCT ON (v.device, v.seq, v.quantity) v.device, v.seq, v.time, v.quantity, v.value, r.kit
    FROM batch_values v
    SEMI JOIN new_keys USING (device, seq)
    JOIN (SELECT DISTINCT ON (device, seq) device, seq, kit FROM batch_readings) r USING (device, seq)
"""
# Calibrated values being inserted; the kit is the device's current kit.
CALIBRATED_SOURCE = """
    SELECT c.device, c.seq, c.time, c.quantity, c.value, d.kit
    FROM batch_calibrated c LEFT JOIN devices d ON d.id = c.device
"""


class InfluxMirror:
    """Attach to a DuckDBStore: queue each stored reading, send the queue in the background."""

    def __init__(self, store, url: str, token: str | None = None, org: str = "datacityzen",
                 bucket: str = "datacityzen", batch_lines: int = 5000, timeout_s: float = 10.0,
                 min_backoff_s: float = 1.0, max_backoff_s: float = 60.0, max_pending: int = 5_000_000):
        self.store, self.url, self.org, self.bucket = store, url, org, bucket
        self.batch_lines = batch_lines
        self.min_backoff_s, self.max_backoff_s = min_backoff_s, max_backoff_s
        self.max_pending = max(1, int(max_pending))
        self.sent = 0  # lines the endpoint accepted since this process started
        self.queued = 0  # lines queued since this process started
        self.last_error: str | None = None
        with store.write_lock:
            store.connection.cursor().execute(OUTBOX_SCHEMA)
        store.insert_hooks.append(self._enqueue_raw)
        store.calibrated_hooks.append(self._enqueue_calibrated)
        self._client = InfluxDBClient(url=url, token=token or None, org=org, timeout=int(timeout_s * 1000))
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return f"InfluxMirror(url={self.url!r}, org={self.org!r}, bucket={self.bucket!r})"

    # -- inside the store's insert transaction -------------------------------------------------------
    def _enqueue_raw(self, cur) -> None:
        self._count(cur.execute(_line_sql(RAW_SOURCE, "raw", "kit")))
        self._wake.set()

    def _enqueue_calibrated(self, cur) -> None:
        self._count(cur.execute(_line_sql(CALIBRATED_SOURCE, "calibrated", "kit")))
        self._wake.set()

    def _count(self, cur) -> None:
        row = cur.fetchone()  # DuckDB answers an INSERT with the number of rows inserted
        self.queued += int(row[0]) if row else 0

    # -- the queue ------------------------------------------------------------------------------------
    def pending(self) -> int:
        cur = self.store.connection.cursor()
        try:
            return cur.execute("SELECT count(*) FROM influx_outbox").fetchone()[0]
        finally:
            cur.close()

    def dropped(self) -> int:
        """Lines deleted from the outbox over its bound, over the outbox's life (see the module doc)."""
        cur = self.store.connection.cursor()
        try:
            return int(cur.execute("SELECT coalesce(sum(lines), 0) FROM influx_dropped").fetchone()[0])
        finally:
            cur.close()

    def stats(self) -> dict:
        """Counters for /api/v1/health: no URL, no token, no error text."""
        return {"reachable": self.last_error is None, "pending": self.pending(), "max_pending": self.max_pending,
                "queued": self.queued, "sent": self.sent, "dropped": self.dropped(),
                "rejected": len(self.rejected())}

    def enforce_bound(self) -> int:
        """Delete the oldest lines past `max_pending`, record how many; returns that number."""
        over = self.pending() - self.max_pending
        if over <= 0:
            return 0
        reason = f"outbox over {self.max_pending} lines while {self.url} was unreachable: oldest dropped"
        with self.store.transaction() as cur:
            cur.execute("DELETE FROM influx_outbox WHERE id IN "
                        "(SELECT id FROM influx_outbox ORDER BY id LIMIT ?)", [over])
            cur.execute("INSERT INTO influx_dropped VALUES (?, ?, ?)",
                        [datetime.now(timezone.utc).replace(tzinfo=None), over, reason])
        log.warning("time-series mirror: %d lines dropped (%s); %d dropped in all; the readings stay in DuckDB",
                    over, reason, self.dropped())
        return over

    def rejected(self) -> list[dict]:
        cur = self.store.connection.cursor()
        try:
            rows = cur.execute("SELECT id, line, rejected_at, reason FROM influx_rejected ORDER BY id").fetchall()
        finally:
            cur.close()
        return [dict(zip(("id", "line", "rejected_at", "reason"), r)) for r in rows]

    def _oldest(self, n: int) -> list[tuple[int, str]]:
        cur = self.store.connection.cursor()
        try:
            return cur.execute("SELECT id, line FROM influx_outbox ORDER BY id LIMIT ?", [n]).fetchall()
        finally:
            cur.close()

    def _forget(self, ids: list[int], reason: str | None = None) -> None:
        with self.store.transaction() as cur:
            if reason is not None:
                cur.execute(
                    "INSERT INTO influx_rejected SELECT id, line, ?, ? FROM influx_outbox "
                    "WHERE id IN (SELECT unnest(?::BIGINT[]))",
                    [datetime.now(timezone.utc).replace(tzinfo=None), reason, ids],
                )
            cur.execute("DELETE FROM influx_outbox WHERE id IN (SELECT unnest(?::BIGINT[]))", [ids])

    def drain_once(self) -> int:
        """Send one batch of the oldest queued lines. Returns how many were sent; raises when the
        endpoint is unreachable or refuses for a reason that may pass (auth, overload, outage)."""
        rows = self._oldest(self.batch_lines)
        if not rows:
            return 0
        ids = [r[0] for r in rows]
        try:
            self._write_api.write(bucket=self.bucket, org=self.org, record=[r[1] for r in rows],
                                  write_precision=WritePrecision.NS)
        except ApiException as exc:
            if exc.status in (400, 422):  # malformed: retrying cannot help; keep them aside
                reason = f"HTTP {exc.status}: {(exc.body or exc.reason or '')[:500]}"
                log.error("time-series endpoint %s rejected %d lines (%s); kept in influx_rejected",
                          self.url, len(ids), reason)
                self._forget(ids, reason)
                return 0
            if exc.status == 413 and self.batch_lines > 1:
                self.batch_lines = max(1, self.batch_lines // 2)
            raise
        self._forget(ids)
        self.sent += len(ids)
        return len(ids)

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Send until the queue is empty (True) or the timeout passes (False); for tests and tools."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if self.drain_once() == 0 and self.pending() == 0:
                    return True
            except Exception:
                time.sleep(0.2)
        return self.pending() == 0

    # -- background sender ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="influx-mirror", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        backoff = self.min_backoff_s
        while not self._stop.is_set():
            try:
                sent = self.drain_once()
            except Exception as exc:  # endpoint down or refusing: keep the lines, wait, retry
                message = f"{type(exc).__name__}: {getattr(exc, 'status', '') or ''} {str(exc)[:200]}"
                if message != self.last_error:
                    log.warning("time-series endpoint %s unavailable (%s); %d lines kept, retrying",
                                self.url, message, self.pending())
                self.last_error = message
                try:
                    self.enforce_bound()
                except Exception:  # the database busy or full: try again at the next round
                    log.exception("time-series mirror: could not trim the outbox")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            if self.last_error is not None and sent:
                log.info("time-series endpoint %s reachable again", self.url)
                self.last_error = None
            backoff = self.min_backoff_s
            if sent < self.batch_lines:  # queue drained: wait for new readings
                self._wake.wait(0.5)
                self._wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        try:
            self.store.insert_hooks.remove(self._enqueue_raw)
            self.store.calibrated_hooks.remove(self._enqueue_calibrated)
        except ValueError:
            pass
        self._client.close()
