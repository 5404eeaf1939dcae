"""Places of the atlas (fablabs, public digital spaces, exhibition stops, partners), as the mediators'
data file says; `replace_all` swaps the whole set in one transaction, so an import is all or nothing."""
from __future__ import annotations

import json
from .side_table import SideTable, now_utc

SCHEMA = """
CREATE TABLE IF NOT EXISTS atlas_places (
    id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    lat DOUBLE NOT NULL,
    lon DOUBLE NOT NULL,
    details VARCHAR NOT NULL,       -- JSON: address, url, workshops, description {fr, en}
    imported_at TIMESTAMP NOT NULL
);
"""


class AtlasPlaces(SideTable):
    SCHEMA = SCHEMA

    def replace_all(self, places: list[dict]) -> int:
        now = now_utc()
        with self.store.transaction() as cur:
            cur.execute("DELETE FROM atlas_places")
            for p in places:
                details = {k: v for k, v in p.items() if k not in ("id", "kind", "name", "lat", "lon")}
                cur.execute("INSERT INTO atlas_places VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [p["id"], p["kind"], p["name"], p["lat"], p["lon"],
                             json.dumps(details, ensure_ascii=False, sort_keys=True), now])
        return len(places)

    def all(self) -> list[dict]:
        cur = self._con.cursor()
        try:
            rows = cur.execute("SELECT id, kind, name, lat, lon, details FROM atlas_places ORDER BY kind, name").fetchall()
        finally:
            cur.close()
        return [{"id": i, "kind": k, "name": n, "lat": la, "lon": lo, **json.loads(d)} for i, k, n, la, lo, d in rows]

    def public_devices(self) -> list[dict]:
        """Devices with a public (snapped) location: device_sites.public_lat/public_lon only, never the
        exact lat/lon columns."""
        cur = self._con.cursor()
        try:
            rows = cur.execute(
                """SELECT s.device, s.public_lat, s.public_lon, d.kit, d.last_seen
                   FROM device_sites s LEFT JOIN devices d ON d.id = s.device
                   WHERE s.public_lat IS NOT NULL AND s.public_lon IS NOT NULL ORDER BY s.device""").fetchall()
        finally:
            cur.close()
        return [{"id": r[0], "lat": r[1], "lon": r[2], "kit": r[3], "last_seen": r[4]} for r in rows]
