"""Which registered devices are airrohr (Sensor.Community) nodes, and how they may post.

An airrohr node is a registered device (store/registry.py) whose id is `esp8266-<chip id>` (or
`esp32-<chip id>`) and whose kit is `airrohr`. Its HTTP token (issued at registration) is the password of
HTTP basic auth on all three push paths. `open_push` lets the Sensor.Community per-sensor path accept the
node on its `X-Sensor` header alone, as Sensor.Community itself does: an opt-in, since anyone who knows
the chip id can then post as the node.
"""
from __future__ import annotations

from .side_table import SideTable, now_utc

SCHEMA = """
CREATE TABLE IF NOT EXISTS airrohr_nodes (
    device VARCHAR PRIMARY KEY,
    open_push BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMP NOT NULL
);
"""


class AirrohrNodes(SideTable):
    SCHEMA = SCHEMA

    def add(self, device: str, open_push: bool = False) -> None:
        now = now_utc()
        with self._lock:
            self._con.cursor().execute(
                "INSERT INTO airrohr_nodes VALUES (?, ?, ?) ON CONFLICT (device) DO UPDATE SET "
                "open_push = excluded.open_push", [device, bool(open_push), now])

    def get(self, device: str) -> dict | None:
        cur = self._con.cursor()
        try:
            row = cur.execute("SELECT device, open_push, created_at FROM airrohr_nodes WHERE device = ?",
                              [device]).fetchone()
        finally:
            cur.close()
        return None if row is None else {"device": row[0], "open_push": bool(row[1]), "created_at": row[2]}

    def all(self) -> list[str]:
        cur = self._con.cursor()
        try:
            return [r[0] for r in cur.execute("SELECT device FROM airrohr_nodes ORDER BY device").fetchall()]
        finally:
            cur.close()


def register_node(store, node: str, name: str, lat: float, lon: float, *, precision_m: int | None = None,
                  email: str | None = None, altitude_m: float | None = None, open_push: bool = False):
    """Register an airrohr node as a device (kit `airrohr`, id `esp8266-<chip id>`) and mark it as one.
    Returns the registry's Registration: its `http_token` is the node's basic-auth password."""
    from ..ingest.airrohr import node_id
    from .registry import Registry

    node = node_id(node)
    kwargs = {"device_id": node, "email": email, "altitude_m": altitude_m}
    if precision_m is not None:
        kwargs["precision_m"] = precision_m
    registration = Registry.of(store).register("airrohr", name, lat, lon, **kwargs)
    AirrohrNodes.of(store).add(node, open_push)
    return registration
