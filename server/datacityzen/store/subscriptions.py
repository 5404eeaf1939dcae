"""Alert subscriptions of third parties (white-label alerts) and their deliveries."""
from __future__ import annotations

from .side_table import SideTable, now_utc

SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS alert_subscription_ids START 1;
CREATE TABLE IF NOT EXISTS alert_subscriptions (
    id BIGINT PRIMARY KEY DEFAULT nextval('alert_subscription_ids'),
    api_key_hash VARCHAR NOT NULL,    -- the reuser who owns it
    area VARCHAR NOT NULL,
    quantity VARCHAR NOT NULL,
    threshold DOUBLE NOT NULL,
    url VARCHAR NOT NULL,
    label VARCHAR,
    secret VARCHAR NOT NULL,          -- HMAC key of the signature header (needed to sign; never listed)
    state VARCHAR NOT NULL DEFAULT 'ok',
    changed_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_subscription_deliveries (
    subscription BIGINT NOT NULL,
    body VARCHAR NOT NULL,
    state VARCHAR NOT NULL,           -- pending | delivered | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    last_error VARCHAR,
    created_at TIMESTAMP NOT NULL
);
"""



class SubscriptionStore(SideTable):
    SCHEMA = SCHEMA

    _COLS = ("id", "area", "quantity", "threshold", "url", "label", "state", "changed_at", "created_at")

    def add(self, key_hash, area, quantity, threshold, url, label, secret) -> int:
        return int(self._w("INSERT INTO alert_subscriptions (api_key_hash, area, quantity, threshold, url, label, secret, "
                           "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                           [key_hash, area, quantity, threshold, url, label, secret, now_utc()])[0][0])

    def of_key(self, key_hash) -> list[dict]:
        rows = self._q(f"SELECT {', '.join(self._COLS)} FROM alert_subscriptions WHERE api_key_hash = ? ORDER BY id", [key_hash])
        return [dict(zip(self._COLS, r)) for r in rows]

    def all(self, with_secret=False) -> list[dict]:
        cols = self._COLS + (("secret",) if with_secret else ())
        return [dict(zip(cols, r)) for r in self._q(f"SELECT {', '.join(cols)} FROM alert_subscriptions ORDER BY id")]

    def remove(self, key_hash, sub_id) -> bool:
        found = self._w("DELETE FROM alert_subscriptions WHERE id = ? AND api_key_hash = ? RETURNING 1", [sub_id, key_hash])
        if found:
            self._w("DELETE FROM alert_subscription_deliveries WHERE subscription = ? AND state = 'pending'", [sub_id])
        return bool(found)

    def set_state(self, sub_id, state, at, body) -> None:
        """Change the state and queue the notification, in one transaction."""
        with self.store.transaction() as cur:
            cur.execute("UPDATE alert_subscriptions SET state = ?, changed_at = ? WHERE id = ?", [state, at, sub_id])
            cur.execute("INSERT INTO alert_subscription_deliveries VALUES (?, ?, 'pending', 0, ?, NULL, ?)",
                        [sub_id, body, at, at])

    def due(self, now) -> list[dict]:
        rows = self._q("""SELECT d.rowid, d.subscription, d.body, d.attempts, s.url, s.secret
                          FROM alert_subscription_deliveries d JOIN alert_subscriptions s ON s.id = d.subscription
                          WHERE d.state = 'pending' AND d.next_attempt_at <= ? ORDER BY d.created_at""", [now])
        return [dict(zip(("rowid", "subscription", "body", "attempts", "url", "secret"), r)) for r in rows]

    def mark(self, rowid, state, error, next_at) -> None:
        self._w("UPDATE alert_subscription_deliveries SET state = ?, attempts = attempts + 1, last_error = ?, "
                "next_attempt_at = coalesce(?, next_attempt_at) WHERE rowid = ?", [state, error, next_at, rowid])

    def deliveries(self, sub_id) -> list[dict]:
        rows = self._q("SELECT body, state, attempts, last_error FROM alert_subscription_deliveries WHERE subscription = ? "
                       "ORDER BY created_at", [sub_id])
        return [dict(zip(("body", "state", "attempts", "last_error"), r)) for r in rows]
