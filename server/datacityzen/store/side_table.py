"""Base for the small modules that keep their own tables beside the readings (atlas, reuse keys, ...).

They share the embedded store's DuckDB connection and write lock: one object per store and class,
made on first use (`of(store)`), which creates the module's tables (`SCHEMA`) once.
"""
from __future__ import annotations

from datetime import datetime, timezone


def now_utc() -> datetime:
    """Naive UTC, as the tables store their timestamps."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class SideTable:
    SCHEMA = ""

    @classmethod
    def of(cls, store):
        cache = store.__dict__.setdefault("_side_tables", {})
        found = cache.get(cls)
        if found is None:
            found = cache[cls] = cls(store)
        return found

    def __init__(self, store):
        self.store = store
        self._con = store._con
        self._lock = store._write_lock
        with self._lock:
            self._con.cursor().execute(self.SCHEMA)

    def _q(self, sql, params=()):
        """Rows of a read (its own cursor, no lock: DuckDB reads run beside the writer)."""
        cur = self._con.cursor()
        try:
            return cur.execute(sql, list(params)).fetchall()
        finally:
            cur.close()

    def _w(self, sql, params=()):
        """A write under the store's lock; its rows, if any."""
        with self._lock:
            cur = self._con.cursor()
            try:
                return cur.execute(sql, list(params)).fetchall()
            finally:
                cur.close()
