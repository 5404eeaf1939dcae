"""Tables of the quantity request board: requests, votes (one per voter key), comments, a site secret."""
from __future__ import annotations

import secrets
from datetime import datetime
from .side_table import SideTable, now_utc

SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS quantity_request_ids START 1;
CREATE TABLE IF NOT EXISTS quantity_requests (
    id BIGINT PRIMARY KEY DEFAULT nextval('quantity_request_ids'),
    title VARCHAR NOT NULL,
    description VARCHAR NOT NULL,
    author VARCHAR NOT NULL,
    status VARCHAR NOT NULL DEFAULT 'proposed',
    mediator_note VARCHAR,
    hidden BOOLEAN NOT NULL DEFAULT false,
    client_key VARCHAR NOT NULL,        -- HMAC of the client address (rate limits), never the address
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS quantity_request_votes (
    request_id BIGINT NOT NULL,
    voter_key VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (request_id, voter_key)
);
CREATE SEQUENCE IF NOT EXISTS quantity_request_comment_ids START 1;
CREATE TABLE IF NOT EXISTS quantity_request_comments (
    id BIGINT PRIMARY KEY DEFAULT nextval('quantity_request_comment_ids'),
    request_id BIGINT NOT NULL,
    author VARCHAR NOT NULL,
    text VARCHAR NOT NULL,
    hidden BOOLEAN NOT NULL DEFAULT false,
    client_key VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS site_secrets (
    name VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
"""



class BoardStore(SideTable):
    SCHEMA = SCHEMA

    def secret(self, name: str) -> bytes:
        """A random secret kept in the database (stable across restarts), made on first use."""
        rows = self._q("SELECT value FROM site_secrets WHERE name = ?", [name])
        if not rows:
            self._w("INSERT INTO site_secrets VALUES (?, ?) ON CONFLICT DO NOTHING", [name, secrets.token_hex(32)])
            rows = self._q("SELECT value FROM site_secrets WHERE name = ?", [name])
        return bytes.fromhex(rows[0][0])

    def add_request(self, title, description, author, client_key) -> int:
        now = now_utc()
        return int(self._w("INSERT INTO quantity_requests (title, description, author, client_key, created_at, updated_at) "
                           "VALUES (?, ?, ?, ?, ?, ?) RETURNING id", [title, description, author, client_key, now, now])[0][0])

    def add_comment(self, request_id, author, text, client_key) -> int:
        return int(self._w("INSERT INTO quantity_request_comments (request_id, author, text, client_key, created_at) "
                           "VALUES (?, ?, ?, ?, ?) RETURNING id", [request_id, author, text, client_key, now_utc()])[0][0])

    def vote(self, request_id, voter_key) -> bool:
        return bool(self._w("INSERT INTO quantity_request_votes VALUES (?, ?, ?) ON CONFLICT DO NOTHING RETURNING 1",
                            [request_id, voter_key, now_utc()]))

    def recent_count(self, table: str, client_key: str, since: datetime) -> int:
        assert table in ("quantity_requests", "quantity_request_comments")
        return int(self._q(f"SELECT count(*) FROM {table} WHERE client_key = ? AND created_at >= ?", [client_key, since])[0][0])

    def title_exists(self, title: str) -> bool:
        return bool(self._q("SELECT 1 FROM quantity_requests WHERE lower(title) = lower(?) AND NOT hidden", [title]))

    _COLS = "r.id, r.title, r.description, r.author, r.status, r.mediator_note, r.hidden, r.created_at, r.updated_at"

    def requests(self, include_hidden: bool = False) -> list[dict]:
        rows = self._q(
            f"""SELECT {self._COLS}, (SELECT count(*) FROM quantity_request_votes v WHERE v.request_id = r.id),
                       (SELECT count(*) FROM quantity_request_comments c WHERE c.request_id = r.id AND NOT c.hidden)
                FROM quantity_requests r {'' if include_hidden else 'WHERE NOT r.hidden'}
                ORDER BY 10 DESC, r.created_at""")
        return [self._row(r) for r in rows]

    def request(self, request_id: int, include_hidden: bool = False) -> dict | None:
        rows = self._q(
            f"""SELECT {self._COLS}, (SELECT count(*) FROM quantity_request_votes v WHERE v.request_id = r.id),
                       (SELECT count(*) FROM quantity_request_comments c WHERE c.request_id = r.id AND NOT c.hidden)
                FROM quantity_requests r WHERE r.id = ?""", [request_id])
        if not rows or (rows[0][6] and not include_hidden):
            return None
        out = self._row(rows[0])
        out["comments"] = [
            {"id": c[0], "author": c[1], "text": c[2], "hidden": c[3], "created_at": c[4]}
            for c in self._q("SELECT id, author, text, hidden, created_at FROM quantity_request_comments "
                             f"WHERE request_id = ? {'' if include_hidden else 'AND NOT hidden'} ORDER BY id", [request_id])]
        return out

    @staticmethod
    def _row(r) -> dict:
        keys = ("id", "title", "description", "author", "status", "mediator_note", "hidden", "created_at",
                "updated_at", "votes", "comments_count")
        return dict(zip(keys, r))

    def moderate_request(self, request_id: int, status: str | None, hidden: bool | None, note: str | None) -> bool:
        sets, params = ["updated_at = ?"], [now_utc()]
        if status is not None:
            sets.append("status = ?")
            params.append(status)
        if hidden is not None:
            sets.append("hidden = ?")
            params.append(hidden)
        if note is not None:
            sets.append("mediator_note = ?")
            params.append(note)
        return bool(self._w(f"UPDATE quantity_requests SET {', '.join(sets)} WHERE id = ? RETURNING 1", params + [request_id]))

    def moderate_comment(self, request_id: int, comment_id: int, hidden: bool) -> bool:
        return bool(self._w("UPDATE quantity_request_comments SET hidden = ? WHERE id = ? AND request_id = ? RETURNING 1",
                            [hidden, comment_id, request_id]))
