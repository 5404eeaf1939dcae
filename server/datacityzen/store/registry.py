"""Registered devices and their hosts: credentials, host links, publication pauses, deleted periods,
location precision and alerts, in the store's DuckDB database.

Secrets are never stored: device passwords and HTTP tokens are kept as salted scrypt hashes (RFC 7914;
n = 2^14, r = 8, p = 1, the interactive-login cost recommended there), checked in constant time. Host
tokens must be found by their value, so they are stored as their SHA-256: they are 256-bit random
strings (`secrets.token_urlsafe(32)`), so a fast hash loses nothing to guessing and a database dump
gives no usable link. A secret is returned once, at creation, and appears in no log or error message.

Deleting a period removes the device's raw and calibrated values in it but keeps its `raw_readings`
rows as tombstones: ingest is idempotent on (device, seq), so a message delivered again cannot bring
deleted values back. A reading with a new sequence number that arrives later with a time inside a
deleted period (a spool backlog) is removed by `sweep_deleted_periods()`, which the alert job runs.

Pausing publication keeps recording: readings are stored and the host still sees them on their own
page, but every reading time-stamped inside a pause stays out of public outputs for good (resuming
does not publish the paused period). `hidden_periods()` tells public outputs what to leave out.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .. import privacy
from ..broker_config import mosquitto_hash

DEVICE_ID = re.compile(r"^[a-z0-9-]{3,40}$")  # docs/wire-format.md
EMAIL = re.compile(r"^[^@\s<>,;\"']{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
AQI_SCALES = ("eu", "atmo", "us")
ALERT_KINDS = ("silence", "threshold", "error")
ALERT_CHANNELS = ("email", "webhook")

SCHEMA = """
CREATE TABLE IF NOT EXISTS registered_devices (
    id VARCHAR PRIMARY KEY,
    kit VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    aqi_scale VARCHAR NOT NULL DEFAULT 'eu'
);
CREATE TABLE IF NOT EXISTS hosts (
    device VARCHAR PRIMARY KEY,
    email VARCHAR,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS device_credentials (
    device VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,          -- 'mqtt' (password) or 'http' (bearer token)
    secret_hash VARCHAR NOT NULL,   -- scrypt$n$r$p$salt$hash
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (device, kind)
);
-- HTTP ingest tokens by SHA-256 (256-bit random tokens: a fast hash is enough to look one up), so a
-- token posted for another device than its own is told apart from an unknown one (403 / 401).
CREATE TABLE IF NOT EXISTS http_token_index (
    token_hash VARCHAR PRIMARY KEY, -- sha256 hex of the token
    device VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS host_tokens (
    token_hash VARCHAR PRIMARY KEY, -- sha256 hex of the token
    device VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS publication_pauses (
    device VARCHAR NOT NULL,
    start_at TIMESTAMP NOT NULL,
    end_at TIMESTAMP               -- NULL: still paused
);
CREATE TABLE IF NOT EXISTS deleted_periods (
    device VARCHAR NOT NULL,
    start_at TIMESTAMP NOT NULL,
    end_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP NOT NULL,
    values_removed BIGINT NOT NULL
);
CREATE SEQUENCE IF NOT EXISTS alert_ids START 1;
CREATE TABLE IF NOT EXISTS alerts (
    id BIGINT PRIMARY KEY DEFAULT nextval('alert_ids'),
    device VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,          -- silence | threshold | error
    quantity VARCHAR,
    op VARCHAR,                     -- above | below
    threshold DOUBLE,
    hours DOUBLE,
    channel VARCHAR NOT NULL,       -- email | webhook
    target VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    state VARCHAR NOT NULL DEFAULT 'ok',  -- ok | firing
    changed_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS alert_events (
    alert_id BIGINT NOT NULL,
    device VARCHAR NOT NULL,
    fired_at TIMESTAMP NOT NULL,
    message_en VARCHAR NOT NULL,
    message_fr VARCHAR NOT NULL,
    delivered BOOLEAN NOT NULL,
    error VARCHAR
);
"""

# RFC 7914 section 2 / OWASP: n = 2^14, r = 8, p = 1 (16 MiB, tens of ms per check).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(digest) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def naive_utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        return t
    return t.astimezone(timezone.utc).replace(tzinfo=None)


class RegistryError(ValueError):
    """Bad input to the registry; the message says what to change (and never holds a secret)."""


class UnknownDevice(RegistryError):
    pass


class DataDirInUse(RuntimeError):
    pass


@dataclass
class Registration:
    id: str
    kit: str
    name: str
    mqtt_password: str
    http_token: str
    host_token: str
    public_lat: float
    public_lon: float
    precision_m: int

    def __repr__(self) -> str:  # secrets stay out of logs and tracebacks
        return f"Registration(id={self.id!r}, kit={self.kit!r})"


class Registry:
    """Uses the DuckDBStore's connection (`_con`) and write lock (`_write_lock`); writes go through
    its `transaction()`."""

    @classmethod
    def of(cls, store) -> "Registry":
        """The store's registry (created once per store object)."""
        registry = getattr(store, "_registry", None)
        if registry is None:
            registry = cls(store)
            store._registry = registry
        return registry

    def __init__(self, store):
        self._store = store
        self._con = store._con
        self._lock = store._write_lock
        with self._lock:
            self._con.cursor().execute(SCHEMA)
        # Successful checks are remembered (as SHA-256 of the secret) so a reconnecting device or an
        # HTTP post does not pay scrypt each time; rotation or revocation clears the entry.
        self._verified: dict[tuple[str, str], str] = {}
        self._verified_lock = threading.Lock()

    # -- small helpers -----------------------------------------------------------------------------
    def _query(self, sql: str, params=()) -> list[tuple]:
        cur = self._con.cursor()
        try:
            return cur.execute(sql, list(params)).fetchall()
        finally:
            cur.close()

    def _write(self, statements: list[tuple[str, list]]) -> list:
        """Run statements in one transaction; returns each statement's fetchall()."""
        out = []
        with self._store.transaction() as cur:
            for sql, params in statements:
                cur.execute(sql, params)
                try:
                    out.append(cur.fetchall())
                except Exception:  # statements without a result set
                    out.append([])
        return out

    def exists(self, device: str) -> bool:
        return bool(self._query("SELECT 1 FROM registered_devices WHERE id = ?", [device]))

    def _require(self, device: str) -> None:
        if not self.exists(device):
            raise UnknownDevice(f"no registered device {device!r}")

    # -- registration ------------------------------------------------------------------------------
    def register(self, kit: str, name: str, lat: float, lon: float, *, altitude_m: float | None = None,
                 email: str | None = None, device_id: str | None = None,
                 precision_m: int = privacy.DEFAULT_PRECISION_M, now: datetime | None = None,
                 secrets_given: dict | None = None) -> Registration:
        """Register a device and its host. `secrets_given` ({"mqtt_password", "http_token",
        "host_token"}, each optional) carries secrets the flash station made while offline and already
        wrote to the board; they are stored hashed like generated ones."""
        kit = (kit or "").strip()
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,63}", kit):
            raise RegistryError(f"kit {kit!r}: use a kit id such as air-outdoor-v1")
        name = " ".join((name or "").split())
        if not 1 <= len(name) <= 80:
            raise RegistryError("name: give 1 to 80 characters")
        try:
            lat, lon = float(lat), float(lon)
            privacy.check_location(lat, lon)
            public_lat, public_lon = privacy.snap(lat, lon, int(precision_m))
        except (TypeError, ValueError) as exc:
            raise RegistryError(str(exc)) from None
        if altitude_m is not None and not -500 <= float(altitude_m) <= 9000:
            raise RegistryError(f"altitude {altitude_m} m must be between -500 and 9000")
        if email is not None and email != "" and not EMAIL.match(email):
            raise RegistryError(f"e-mail address {email!r} does not look like name@example.org")
        if device_id is None:
            for _ in range(20):
                device_id = "dcz-" + secrets.token_hex(3)
                if not self.exists(device_id):
                    break
        elif not DEVICE_ID.match(device_id):
            raise RegistryError(f"device id {device_id!r}: use 3 to 40 characters of a-z, 0-9 and -")
        if self.exists(device_id):
            raise RegistryError(f"device {device_id!r} is already registered")
        now = naive_utc(now) if now else _now()
        given = secrets_given or {}
        for key in ("mqtt_password", "http_token", "host_token"):
            value = given.get(key)
            if value is not None and (not isinstance(value, str) or not 32 <= len(value) <= 128
                                      or not re.fullmatch(r"[A-Za-z0-9_-]+", value)):
                raise RegistryError(f"{key}: give 32 to 128 characters of A-Z, a-z, 0-9, _ and -")
        mqtt_password = given.get("mqtt_password") or new_token()
        http_token = given.get("http_token") or new_token()
        host_token = given.get("host_token") or new_token()
        self._write([
            ("INSERT INTO registered_devices (id, kit, name, created_at) VALUES (?, ?, ?, ?)",
             [device_id, kit, name, now]),
            ("INSERT INTO hosts VALUES (?, ?, ?)", [device_id, email or None, now]),
            ("INSERT INTO device_credentials VALUES (?, 'mqtt', ?, ?)", [device_id, hash_secret(mqtt_password), now]),
            ("INSERT INTO device_credentials VALUES (?, 'http', ?, ?)", [device_id, hash_secret(http_token), now]),
            ("DELETE FROM http_token_index WHERE device = ?", [device_id]),
            ("INSERT INTO http_token_index VALUES (?, ?)", [token_hash(http_token), device_id]),
            # for a production mosquitto's password file (broker_config.py): its own hash format
            ("INSERT INTO device_credentials VALUES (?, 'mosquitto', ?, ?)",
             [device_id, mosquitto_hash(mqtt_password), now]),
            ("INSERT INTO host_tokens VALUES (?, ?, ?, NULL)", [token_hash(host_token), device_id, now]),
            ("DELETE FROM device_sites WHERE device = ?", [device_id]),
            ("INSERT INTO device_sites VALUES (?, ?, ?, ?, ?, ?, ?)",
             [device_id, lat, lon, None if altitude_m is None else float(altitude_m), int(precision_m),
              public_lat, public_lon]),
        ])
        return Registration(device_id, kit, name, mqtt_password, http_token, host_token, public_lat,
                            public_lon, int(precision_m))

    def devices(self) -> list[dict]:
        """Registered devices for the admin (no secrets, no exact location)."""
        rows = self._query(
            """SELECT r.id, r.kit, r.name, r.created_at, h.email, s.precision_m, s.public_lat, s.public_lon,
                      EXISTS (SELECT 1 FROM publication_pauses p WHERE p.device = r.id AND p.end_at IS NULL),
                      EXISTS (SELECT 1 FROM host_tokens t WHERE t.device = r.id AND t.revoked_at IS NULL)
               FROM registered_devices r LEFT JOIN hosts h ON h.device = r.id
               LEFT JOIN device_sites s ON s.device = r.id ORDER BY r.id""")
        keys = ("id", "kit", "name", "created_at", "email", "precision_m", "public_lat", "public_lon",
                "paused", "host_link_active")
        return [dict(zip(keys, row)) for row in rows]

    def device(self, device: str) -> dict | None:
        rows = self._query(
            """SELECT r.id, r.kit, r.name, r.created_at, r.aqi_scale, h.email
               FROM registered_devices r LEFT JOIN hosts h ON h.device = r.id WHERE r.id = ?""", [device])
        if not rows:
            return None
        return dict(zip(("id", "kit", "name", "created_at", "aqi_scale", "email"), rows[0]))

    def site(self, device: str) -> dict | None:
        """The device's site, exact location included: for its host and for internal use only."""
        rows = self._query("SELECT lat, lon, altitude_m, precision_m, public_lat, public_lon FROM device_sites "
                           "WHERE device = ?", [device])
        if not rows:
            return None
        return dict(zip(("lat", "lon", "altitude_m", "precision_m", "public_lat", "public_lon"), rows[0]))

    def public_sites(self) -> dict[str, tuple[float, float]]:
        return {d: (la, lo) for d, la, lo in self._query(
            "SELECT device, public_lat, public_lon FROM device_sites WHERE public_lat IS NOT NULL")}

    # -- credentials -------------------------------------------------------------------------------
    def _check(self, kind: str, device: str, secret: str) -> bool:
        if not device or not secret or not isinstance(secret, str):
            return False
        fast = hashlib.sha256(secret.encode()).hexdigest()
        with self._verified_lock:
            known = self._verified.get((kind, device))
        if known is not None:
            return hmac.compare_digest(known, fast)
        rows = self._query("SELECT secret_hash FROM device_credentials WHERE device = ? AND kind = ?",
                           [device, kind])
        if not rows:
            verify_secret(secret, hash_secret("x"))  # same cost whether or not the device exists
            return False
        ok = verify_secret(secret, rows[0][0])
        if ok:
            with self._verified_lock:
                self._verified[(kind, device)] = fast
            if kind == "http":  # a token issued before the index: index it now
                self._write([("INSERT OR IGNORE INTO http_token_index VALUES (?, ?)", [fast, device])])
        return ok

    def mosquitto_hashes(self) -> dict[str, str]:
        """Device id -> its MQTT password in mosquitto's `$7$` format (broker_config.py)."""
        return dict(self._query("SELECT device, secret_hash FROM device_credentials WHERE kind = 'mosquitto'"))

    def check_mqtt(self, username: str, password: str) -> bool:
        """True when `password` is the MQTT password of device `username` (the device id)."""
        return self._check("mqtt", username, password)

    def check_http_token(self, device: str, token: str) -> bool:
        """True when `token` is the HTTP ingest bearer token of `device`."""
        return self._check("http", device, token)

    def http_token_device(self, token: str) -> str | None:
        """The device whose current HTTP token this is, or None. Tokens issued before the index existed
        are found once they have been used (check_http_token indexes them)."""
        if not token or len(token) > 200:
            return None
        rows = self._query("SELECT device FROM http_token_index WHERE token_hash = ?", [token_hash(token)])
        return rows[0][0] if rows else None

    def rotate_credentials(self, device: str, now: datetime | None = None) -> tuple[str, str]:
        """New MQTT password and HTTP token (the old ones stop working); returns them once."""
        self._require(device)
        now = naive_utc(now) if now else _now()
        mqtt_password, http_token = new_token(), new_token()
        self._write([
            ("UPDATE device_credentials SET secret_hash = ?, created_at = ? WHERE device = ? AND kind = 'mqtt'",
             [hash_secret(mqtt_password), now, device]),
            ("UPDATE device_credentials SET secret_hash = ?, created_at = ? WHERE device = ? AND kind = 'http'",
             [hash_secret(http_token), now, device]),
            ("DELETE FROM device_credentials WHERE device = ? AND kind = 'mosquitto'", [device]),
            ("DELETE FROM http_token_index WHERE device = ?", [device]),
            ("INSERT INTO http_token_index VALUES (?, ?)", [token_hash(http_token), device]),
            ("INSERT INTO device_credentials VALUES (?, 'mosquitto', ?, ?)", [device, mosquitto_hash(mqtt_password), now]),
        ])
        with self._verified_lock:
            self._verified.pop(("mqtt", device), None)
            self._verified.pop(("http", device), None)
        return mqtt_password, http_token

    # -- host links --------------------------------------------------------------------------------
    def device_for_host_token(self, token: str) -> str | None:
        """The device a live host token belongs to; None for an unknown or revoked token."""
        if not token or len(token) > 200:
            return None
        rows = self._query("SELECT device FROM host_tokens WHERE token_hash = ? AND revoked_at IS NULL",
                           [token_hash(token)])
        return rows[0][0] if rows else None

    def rotate_host_token(self, device: str, now: datetime | None = None) -> str:
        """Revoke the device's host links and issue a new one (returned once)."""
        self._require(device)
        now = naive_utc(now) if now else _now()
        token = new_token()
        self._write([
            ("UPDATE host_tokens SET revoked_at = ? WHERE device = ? AND revoked_at IS NULL", [now, device]),
            ("INSERT INTO host_tokens VALUES (?, ?, ?, NULL)", [token_hash(token), device, now]),
        ])
        return token

    def revoke_host_token(self, device: str, now: datetime | None = None) -> int:
        """Revoke every live host link of the device; returns how many were live."""
        self._require(device)
        now = naive_utc(now) if now else _now()
        (rows,) = self._write([("UPDATE host_tokens SET revoked_at = ? WHERE device = ? AND revoked_at IS NULL "
                                "RETURNING 1", [now, device])])
        return len(rows)

    # -- host choices ------------------------------------------------------------------------------
    def set_aqi_scale(self, device: str, scale: str) -> None:
        if scale not in AQI_SCALES:
            raise RegistryError(f"index {scale!r}: choose one of {', '.join(AQI_SCALES)}")
        self._require(device)
        self._write([("UPDATE registered_devices SET aqi_scale = ? WHERE id = ?", [scale, device])])

    def set_precision(self, device: str, precision_m: int) -> tuple[float, float]:
        """Change how precisely the location is shown publicly; returns the new public location."""
        try:
            precision_m = privacy.check_precision(int(precision_m))
        except (TypeError, ValueError) as exc:
            raise RegistryError(str(exc)) from None
        site = self.site(device)
        if site is None:
            raise UnknownDevice(f"device {device!r} has no registered site")
        public = privacy.snap(site["lat"], site["lon"], precision_m)
        self._write([("UPDATE device_sites SET precision_m = ?, public_lat = ?, public_lon = ? WHERE device = ?",
                      [precision_m, public[0], public[1], device])])
        return public

    # -- publication pauses ------------------------------------------------------------------------
    def is_paused(self, device: str) -> bool:
        return bool(self._query("SELECT 1 FROM publication_pauses WHERE device = ? AND end_at IS NULL", [device]))

    def set_paused(self, device: str, paused: bool, now: datetime | None = None) -> None:
        self._require(device)
        now = naive_utc(now) if now else _now()
        if paused and not self.is_paused(device):
            self._write([("INSERT INTO publication_pauses VALUES (?, ?, NULL)", [device, now])])
        elif not paused:
            self._write([("UPDATE publication_pauses SET end_at = ? WHERE device = ? AND end_at IS NULL",
                          [now, device])])

    def pauses(self, device: str) -> list[tuple[datetime, datetime | None]]:
        return self._query("SELECT start_at, end_at FROM publication_pauses WHERE device = ? ORDER BY start_at",
                           [device])

    def hidden_periods(self, devices=None) -> dict[str, list[tuple[datetime, datetime | None]]]:
        """Per device, the [start, end) periods (end None: open) whose readings public outputs must
        leave out: publication pauses and deleted periods (in case a late reading arrived there)."""
        sql = ("SELECT device, start_at, end_at FROM publication_pauses UNION ALL "
               "SELECT device, start_at, end_at FROM deleted_periods")
        rows = self._query(f"SELECT * FROM ({sql}) ORDER BY device, start_at")
        wanted = None if devices is None else set(devices)
        out: dict[str, list] = {}
        for device, start, end in rows:
            if wanted is None or device in wanted:
                out.setdefault(device, []).append((start, end))
        return out

    def is_public(self, device: str, time: datetime, hidden: dict | None = None) -> bool:
        hidden = self.hidden_periods([device]) if hidden is None else hidden
        t = naive_utc(time)
        return not any(s <= t and (e is None or t < e) for s, e in hidden.get(device, ()))

    # -- deleting a period ---------------------------------------------------------------------------
    def delete_period(self, device: str, start: datetime, end: datetime, now: datetime | None = None) -> int:
        """Remove the device's raw and calibrated values in [start, end); keep raw_readings as
        tombstones; record the deletion. Returns the number of raw values removed."""
        self._require(device)
        start, end = naive_utc(start), naive_utc(end)
        if not start < end:
            raise RegistryError("the period's end must be after its start")
        now = naive_utc(now) if now else _now()
        if start > now:
            raise RegistryError("the period starts in the future: nothing to delete")
        removed, _, _ = self._write([
            ("DELETE FROM raw_values WHERE device = ? AND time >= ? AND time < ? RETURNING 1", [device, start, end]),
            ("DELETE FROM calibrated_values WHERE device = ? AND time >= ? AND time < ?", [device, start, end]),
            ("INSERT INTO deleted_periods VALUES (?, ?, ?, ?, 0)", [device, start, end, now]),
        ])
        self._write([("UPDATE deleted_periods SET values_removed = ? WHERE device = ? AND deleted_at = ? "
                      "AND start_at = ? AND end_at = ?", [len(removed), device, now, start, end])])
        return len(removed)

    def deleted_periods(self, device: str) -> list[dict]:
        rows = self._query("SELECT start_at, end_at, deleted_at, values_removed FROM deleted_periods "
                           "WHERE device = ? ORDER BY deleted_at DESC", [device])
        return [dict(zip(("start", "end", "deleted_at", "values_removed"), r)) for r in rows]

    def sweep_deleted_periods(self) -> int:
        """Remove values that arrived after their period was deleted (new seq, old time)."""
        (rows, _) = self._write([
            ("""DELETE FROM raw_values v USING deleted_periods d
                WHERE v.device = d.device AND v.time >= d.start_at AND v.time < d.end_at RETURNING 1""", []),
            ("""DELETE FROM calibrated_values v USING deleted_periods d
                WHERE v.device = d.device AND v.time >= d.start_at AND v.time < d.end_at""", []),
        ])
        return len(rows)

    # -- alerts ------------------------------------------------------------------------------------
    def add_alert(self, device: str, kind: str, channel: str, target: str, *, quantity: str | None = None,
                  op: str | None = None, threshold: float | None = None, hours: float | None = None,
                  now: datetime | None = None) -> int:
        self._require(device)
        if kind not in ALERT_KINDS:
            raise RegistryError(f"alert kind {kind!r}: choose one of {', '.join(ALERT_KINDS)}")
        if channel not in ALERT_CHANNELS:
            raise RegistryError(f"alert channel {channel!r}: choose e-mail or webhook")
        if kind == "silence":
            if hours is None or not 0.25 <= float(hours) <= 24 * 30:
                raise RegistryError("silence alert: give a number of hours between 0.25 and 720")
            quantity = op = threshold = None
        elif kind == "threshold":
            from ..quantities import QUANTITIES

            if quantity not in QUANTITIES:
                raise RegistryError(f"threshold alert: unknown quantity {quantity!r}")
            if op not in ("above", "below"):
                raise RegistryError("threshold alert: choose above or below")
            if threshold is None or not (float("-inf") < float(threshold) < float("inf")):
                raise RegistryError("threshold alert: give a threshold value")
            hours = None
        else:
            quantity = op = threshold = hours = None
        now = naive_utc(now) if now else _now()
        (rows,) = self._write([(
            """INSERT INTO alerts (device, kind, quantity, op, threshold, hours, channel, target, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
            [device, kind, quantity, op, threshold, hours, channel, target, now])])
        return int(rows[0][0])

    def remove_alert(self, device: str, alert_id: int) -> bool:
        (rows,) = self._write([("DELETE FROM alerts WHERE id = ? AND device = ? RETURNING 1", [alert_id, device])])
        return bool(rows)

    _ALERT_KEYS = ("id", "device", "kind", "quantity", "op", "threshold", "hours", "channel", "target",
                   "created_at", "state", "changed_at")

    def alerts(self, device: str | None = None) -> list[dict]:
        sql = f"SELECT {', '.join(self._ALERT_KEYS)} FROM alerts"
        rows = self._query(sql + (" WHERE device = ? ORDER BY id" if device else " ORDER BY id"),
                           [device] if device else [])
        return [dict(zip(self._ALERT_KEYS, r)) for r in rows]

    def set_alert_state(self, alert_id: int, state: str, at: datetime) -> None:
        self._write([("UPDATE alerts SET state = ?, changed_at = ? WHERE id = ?", [state, naive_utc(at), alert_id])])

    def record_alert_event(self, alert_id: int, device: str, at: datetime, message_en: str, message_fr: str,
                           delivered: bool, error: str | None) -> None:
        self._write([("INSERT INTO alert_events VALUES (?, ?, ?, ?, ?, ?, ?)",
                      [alert_id, device, naive_utc(at), message_en, message_fr, delivered, error])])

    def alert_events(self, device: str, limit: int = 20) -> list[dict]:
        rows = self._query("SELECT alert_id, fired_at, message_en, message_fr, delivered, error FROM alert_events "
                           "WHERE device = ? ORDER BY fired_at DESC LIMIT ?", [device, limit])
        return [dict(zip(("alert_id", "at", "message_en", "message_fr", "delivered", "error"), r)) for r in rows]


def without_hidden(hidden: dict[str, list], chunks, time_index: int = 0, device_index: int = 1):
    """Drop rows whose (device, time) falls in one of `hidden`'s periods (see `hidden_periods`)."""
    if not hidden:
        yield from chunks
        return
    for chunk in chunks:
        kept = []
        for row in chunk:
            periods = hidden.get(row[device_index])
            if periods:
                t = row[time_index]
                if any(s <= t and (e is None or t < e) for s, e in periods):
                    continue
            kept.append(row)
        if kept:
            yield kept


def open_local(data_dir: str | Path):
    """(store, registry) on a data directory no server holds; DataDirInUse when one does."""
    import duckdb

    from .duckdb_store import DuckDBStore

    try:
        store = DuckDBStore(data_dir)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise DataDirInUse(
                f"the data directory {data_dir} is in use by a running server: use --server URL "
                "(with DCZ_ADMIN_TOKEN set) to register through it, or stop it first"
            ) from None
        raise
    return store, Registry(store)
