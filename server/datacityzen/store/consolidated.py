"""The consolidated layer in DuckDB: reference stations and their values, areas, per-area aggregates.

Tables (created here, beside the store's SCHEMA; this module owns them):
- reference_stations (id, name, lat, lon, source, imported_at): official monitors the operator loads
- reference_values (station, time, quantity, value): their measurements, one row per time and quantity
- areas (id, name, kind, geometry, bbox): polygons (communes, districts) from GeoJSON

Which devices are in an area is computed when asked, from the devices' public (snapped) locations in
device_sites, so an area never says more about where a host lives than the public location does.
"""
from __future__ import annotations

import json
import weakref
from datetime import datetime, timezone

import numpy as np

from ..consolidation.geometry import Area, contains, polygons_of

SCHEMA = """
CREATE TABLE IF NOT EXISTS reference_stations (
    id VARCHAR PRIMARY KEY,
    name VARCHAR,
    lat DOUBLE,
    lon DOUBLE,
    source VARCHAR,
    imported_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS reference_values (
    station VARCHAR NOT NULL,
    time TIMESTAMP NOT NULL,
    quantity VARCHAR NOT NULL,
    value DOUBLE NOT NULL,
    PRIMARY KEY (station, time, quantity)
);
CREATE TABLE IF NOT EXISTS areas (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    geometry VARCHAR NOT NULL,      -- GeoJSON geometry (Polygon or MultiPolygon), WGS84
    min_lon DOUBLE, min_lat DOUBLE, max_lon DOUBLE, max_lat DOUBLE,
    imported_at TIMESTAMP NOT NULL
);
"""


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


_BY_STORE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def for_store(store) -> "ConsolidatedStore":
    """The ConsolidatedStore of `store`, made (and its tables created) once."""
    found = _BY_STORE.get(store)
    if found is None:
        found = _BY_STORE[store] = ConsolidatedStore(store)
    return found


class ConsolidatedStore:
    def __init__(self, store):
        self.store = store
        self._con = store._con
        self._lock = store._write_lock
        with self._lock:
            self._con.cursor().execute(SCHEMA)

    # -- imports ------------------------------------------------------------------------------------
    def import_reference(self, station: str, name: str | None, lat: float | None, lon: float | None,
                         source: str | None, times: np.ndarray, values: dict[str, np.ndarray]) -> int:
        """Store a station and its values (finite ones); a value already stored for the same station,
        time and quantity is replaced by the new import. Returns the number of values stored."""
        cols = {"station": [], "time": [], "quantity": [], "value": []}
        for quantity, v in values.items():
            ok = np.isfinite(v)
            cols["station"].append(np.full(int(ok.sum()), station, dtype=object))
            cols["time"].append(times[ok])
            cols["quantity"].append(np.full(int(ok.sum()), quantity, dtype=object))
            cols["value"].append(v[ok])
        batch = {k: np.concatenate(v) if v else np.empty(0) for k, v in cols.items()}
        with self.store.transaction() as cur:
            cur.execute(
                """INSERT INTO reference_stations VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (id) DO UPDATE SET name = coalesce(excluded.name, reference_stations.name),
                       lat = coalesce(excluded.lat, reference_stations.lat),
                       lon = coalesce(excluded.lon, reference_stations.lon),
                       source = coalesce(excluded.source, reference_stations.source),
                       imported_at = excluded.imported_at""",
                [station, name, lat, lon, source, _now()])
            if batch["value"].size:
                cur.register("reference_batch", batch)
                cur.execute(
                    """INSERT INTO reference_values
                       SELECT DISTINCT ON (station, time, quantity) station, time, quantity, value
                       FROM reference_batch
                       ON CONFLICT (station, time, quantity) DO UPDATE SET value = excluded.value""")
                cur.unregister("reference_batch")
        return int(batch["value"].size)

    def import_areas(self, areas: list[Area]) -> int:
        now = _now()
        with self.store.transaction() as cur:
            for a in areas:
                b = a.bbox
                cur.execute(
                    """INSERT INTO areas VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind,
                           geometry = excluded.geometry, min_lon = excluded.min_lon,
                           min_lat = excluded.min_lat, max_lon = excluded.max_lon,
                           max_lat = excluded.max_lat, imported_at = excluded.imported_at""",
                    [a.id, a.name, a.kind, json.dumps(a.geometry, separators=(",", ":")),
                     b[0], b[1], b[2], b[3], now])
        return len(areas)

    # -- reads --------------------------------------------------------------------------------------
    def _public_sites(self, cur) -> tuple[list[str], np.ndarray, np.ndarray]:
        rows = cur.execute("SELECT device, public_lat, public_lon FROM device_sites "
                           "WHERE public_lat IS NOT NULL AND public_lon IS NOT NULL ORDER BY device").fetchall()
        return [r[0] for r in rows], np.array([r[2] for r in rows], float), np.array([r[1] for r in rows], float)

    def _stations(self, cur):
        rows = cur.execute("SELECT id, lon, lat FROM reference_stations "
                           "WHERE lat IS NOT NULL AND lon IS NOT NULL ORDER BY id").fetchall()
        return [r[0] for r in rows], np.array([r[1] for r in rows], float), np.array([r[2] for r in rows], float)

    def _members(self, cur, geometry_json: str) -> tuple[list[str], list[str]]:
        polys = polygons_of(json.loads(geometry_json), "area")
        devices, dlon, dlat = self._public_sites(cur)
        stations, slon, slat = self._stations(cur)
        d_in = [d for d, hit in zip(devices, contains(polys, dlon, dlat)) if hit] if devices else []
        s_in = [s for s, hit in zip(stations, contains(polys, slon, slat)) if hit] if stations else []
        return d_in, s_in

    def areas(self) -> list[dict]:
        cur = self._con.cursor()
        try:
            rows = cur.execute("SELECT id, name, kind, geometry, min_lon, min_lat, max_lon, max_lat "
                               "FROM areas ORDER BY id").fetchall()
            out = []
            for aid, name, kind, geom, *bbox in rows:
                devices, stations = self._members(cur, geom)
                out.append({"id": aid, "name": name, "kind": kind, "bbox": bbox,
                            "devices": len(devices), "reference_stations": len(stations)})
            return out
        finally:
            cur.close()

    def area(self, area_id: str) -> dict | None:
        cur = self._con.cursor()
        try:
            row = cur.execute("SELECT id, name, kind, geometry FROM areas WHERE id = ?", [area_id]).fetchone()
            if row is None:
                return None
            devices, stations = self._members(cur, row[3])
            return {"id": row[0], "name": row[1], "kind": row[2], "geometry": json.loads(row[3]),
                    "devices": devices, "reference_stations": stations}
        finally:
            cur.close()

    def aggregates(self, area_id: str, quantity: str, start: datetime, end: datetime, every_us: int) -> list[dict] | None:
        """Per time bucket: the mean over devices of each device's mean calibrated value (so a kit that
        reports often does not outweigh one that reports rarely), min and max of the device means, the
        number of devices and values, and the mean of the reference stations inside the area."""
        area = self.area(area_id)
        if area is None:
            return None
        start = start.astimezone(timezone.utc).replace(tzinfo=None) if start.tzinfo else start
        end = end.astimezone(timezone.utc).replace(tzinfo=None) if end.tzinfo else end
        cur = self._con.cursor()
        try:
            sensors = cur.execute(
                """WITH per_device AS (
                       SELECT time_bucket(to_microseconds(?::BIGINT), time, ?::TIMESTAMP) AS bucket, device,
                              avg(value) AS mean, count(*) AS n
                       FROM calibrated_values
                       WHERE device IN (SELECT unnest(?)) AND quantity = ? AND value IS NOT NULL
                         AND time >= ? AND time < ?
                       GROUP BY bucket, device)
                   SELECT bucket, avg(mean), min(mean), max(mean), count(*), sum(n)
                   FROM per_device GROUP BY bucket ORDER BY bucket""",
                [every_us, start, area["devices"] or [""], quantity, start, end]).fetchall()
            refs = cur.execute(
                """SELECT time_bucket(to_microseconds(?::BIGINT), time, ?::TIMESTAMP) AS bucket,
                          avg(value), count(DISTINCT station)
                   FROM reference_values
                   WHERE station IN (SELECT unnest(?)) AND quantity = ? AND time >= ? AND time < ?
                   GROUP BY bucket ORDER BY bucket""",
                [every_us, start, area["reference_stations"] or [""], quantity, start, end]).fetchall()
        finally:
            cur.close()
        table: dict = {}
        for bucket, mean, lo, hi, n_dev, n_val in sensors:
            table[bucket] = {"time": bucket, "mean": mean, "min": lo, "max": hi, "devices": int(n_dev),
                             "values": int(n_val), "reference_mean": None, "reference_stations": 0}
        for bucket, mean, n_st in refs:
            row = table.setdefault(bucket, {"time": bucket, "mean": None, "min": None, "max": None,
                                            "devices": 0, "values": 0})
            row["reference_mean"], row["reference_stations"] = mean, int(n_st)
        return [table[k] for k in sorted(table)]
