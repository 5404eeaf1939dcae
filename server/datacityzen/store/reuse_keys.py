"""Reusers' API keys, stored as SHA-256 of the key (keys are 192-bit random strings, so a fast hash
loses nothing to guessing and a database dump gives no usable key; the same hash is what
store/usage.py records with each download)."""
from __future__ import annotations

import hashlib
from datetime import datetime
from .side_table import SideTable, now_utc

SCHEMA = """
CREATE TABLE IF NOT EXISTS reuse_api_keys (
    key_hash VARCHAR PRIMARY KEY,
    prefix VARCHAR NOT NULL,          -- first characters, to recognise a key in a report
    name VARCHAR NOT NULL,
    email VARCHAR NOT NULL,
    purpose VARCHAR NOT NULL,
    client_key VARCHAR NOT NULL,      -- HMAC of the client address (rate limit), never the address
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
"""


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()



class ReuseKeys(SideTable):
    SCHEMA = SCHEMA

    def add(self, key: str, name: str, email: str, purpose: str, client_key: str) -> None:
        with self._lock:
            self._con.cursor().execute("INSERT INTO reuse_api_keys VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                                       [key_hash(key), key[:8], name, email, purpose, client_key, now_utc()])

    def is_valid(self, key: str) -> bool:
        return bool(self._q("SELECT 1 FROM reuse_api_keys WHERE key_hash = ? AND revoked_at IS NULL", [key_hash(key)]))

    def count_since(self, client_key: str, since: datetime) -> int:
        return int(self._q("SELECT count(*) FROM reuse_api_keys WHERE client_key = ? AND created_at >= ?",
                           [client_key, since])[0][0])

    def revoke(self, prefix: str) -> int:
        with self._lock:
            return len(self._con.cursor().execute(
                "UPDATE reuse_api_keys SET revoked_at = ? WHERE prefix = ? AND revoked_at IS NULL RETURNING 1",
                [now_utc(), prefix]).fetchall())

    def report(self) -> dict:
        """Downloads per key and dataset, per dataset, per device (from the usage table)."""
        from . import usage

        usage._ensure(self.store)
        keys = self._q(
            """SELECT k.prefix, k.name, k.purpose, k.created_at, k.revoked_at, u.dataset, count(u.device),
                      count(DISTINCT u.downloaded_at)
               FROM reuse_api_keys k LEFT JOIN usage_events u ON u.api_key_hash = k.key_hash
               GROUP BY ALL ORDER BY k.created_at, u.dataset""")
        per_key: dict[str, dict] = {}
        for prefix, name, purpose, created, revoked, dataset, device_rows, downloads in keys:
            k = per_key.setdefault(prefix, {"key_prefix": prefix, "name": name, "purpose": purpose,
                                            "created_at": created, "revoked": revoked is not None, "datasets": {}})
            if dataset is not None:
                k["datasets"][dataset] = {"downloads": int(downloads), "device_downloads": int(device_rows)}
        datasets = {d: {"downloads": int(n), "device_downloads": int(m), "with_key": int(w)} for d, n, m, w in self._q(
            """SELECT dataset, count(DISTINCT (downloaded_at, coalesce(api_key_hash, ''))), count(*),
                      count(DISTINCT downloaded_at) FILTER (WHERE api_key_hash IS NOT NULL)
               FROM usage_events GROUP BY dataset ORDER BY dataset""")}
        devices = {d: int(n) for d, n in self._q("SELECT device, count(*) FROM usage_events GROUP BY device ORDER BY device")}
        return {"keys": list(per_key.values()), "datasets": datasets, "devices": devices}
