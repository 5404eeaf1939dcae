"""The consolidated layer: areas from GeoJSON, reference stations from CSV, per-area aggregates over HTTP."""
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from datacityzen.api.app import create_app
from datacityzen.consolidation.geometry import GeometryError, contains, parse_feature_collection, polygons_of
from datacityzen.store.calibrated import CalibratedLayer
from datacityzen.store.duckdb_store import DuckDBStore

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 20, tzinfo=timezone.utc)

SQUARE_WITH_HOLE = {"type": "Polygon", "coordinates": [
    [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]],
    [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]],
]}


def feature(fid, name, rings, kind="Polygon"):
    return {"type": "Feature", "properties": {"insee": fid, "nom": name},
            "geometry": {"type": kind, "coordinates": rings}}


# Two made-up communes side by side near Bordeaux: west [-0.60, -0.58], east [-0.58, -0.56].
WEST = [[[-0.60, 44.82], [-0.58, 44.82], [-0.58, 44.85], [-0.60, 44.85], [-0.60, 44.82]]]
EAST = [[[-0.58, 44.82], [-0.56, 44.82], [-0.56, 44.85], [-0.58, 44.85], [-0.58, 44.82]]]
GEOJSON = {"type": "FeatureCollection", "features": [feature("33063", "Ouest", WEST), feature("33039", "Est", EAST)]}


def test_point_in_polygon_with_a_hole_and_a_multipolygon():
    polys = polygons_of(SQUARE_WITH_HOLE, "t")
    assert contains(polys, [1, 5, 9, 11, np.nan], [1, 5, 9, 5, 1]).tolist() == [True, False, True, False, False]
    multi = polygons_of({"type": "MultiPolygon", "coordinates": [
        [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]], [[[5, 5], [6, 5], [6, 6], [5, 6], [5, 5]]]]}, "t")
    assert contains(multi, [0.5, 5.5, 3], [0.5, 5.5, 3]).tolist() == [True, True, False]


@given(st.floats(-1, 11, allow_nan=False), st.floats(-1, 11, allow_nan=False))
def test_point_in_polygon_agrees_with_the_analytic_answer(x, y):
    polys = polygons_of(SQUARE_WITH_HOLE, "t")
    on_edge = x in (0, 4, 6, 10) or y in (0, 4, 6, 10)
    expected = (0 < x < 10 and 0 < y < 10) and not (4 < x < 6 and 4 < y < 6)
    if not on_edge:
        assert bool(contains(polys, x, y)[0]) == expected


def test_bad_geojson_is_refused_with_a_reason():
    with pytest.raises(GeometryError, match="FeatureCollection"):
        parse_feature_collection(json.dumps({"type": "Feature"}))
    bad = {"type": "FeatureCollection", "features": [feature("1", "x", [[[0, 0], [1, 1]]])]}
    with pytest.raises(GeometryError, match="at least 4 positions"):
        parse_feature_collection(json.dumps(bad), "insee")
    point = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"insee": "1"}, "geometry": {"type": "Point", "coordinates": [0, 0]}}]}
    with pytest.raises(GeometryError, match="not Polygon"):
        parse_feature_collection(json.dumps(point), "insee")


def cli(*args, data):
    return subprocess.run([sys.executable, "-m", "datacityzen.cli", *args, "--data", str(data)],
                          capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={"PYTHONPATH": str(REPO / "server"), "PATH": "/usr/bin:/bin"})


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """Three devices (two in the west commune, one in the east), a reference station in the west."""
    tmp_path = tmp_path_factory.mktemp("consolidated")
    data = tmp_path / "data"
    areas = tmp_path / "communes.geojson"
    areas.write_text(json.dumps(GEOJSON))
    ref = tmp_path / "station.csv"
    ref.write_text("time;pm25\n" + "".join(f"2026-11-20T{h:02d}:00:00;{10 + h},5\n" for h in range(3)))
    store = DuckDBStore(data)
    sites = {"dev-a": (44.83, -0.59), "dev-b": (44.84, -0.595), "dev-c": (44.83, -0.57)}
    for d, (lat, lon) in sites.items():
        store._con.execute("INSERT INTO device_sites (device, lat, lon, public_lat, public_lon) VALUES (?,?,?,?,?)",
                           [d, lat + 0.0004, lon - 0.0004, lat, lon])
    # calibrated values written directly: what the aggregation reads (the layer's computation is tested apart)
    values = {"dev-a": [10.0, 12.0, None], "dev-b": [20.0, None, 30.0], "dev-c": [100.0, 100.0, 100.0]}
    for d, vs in values.items():
        for i, v in enumerate(vs):
            for k in range(2):  # two readings per hour
                store._con.execute(
                    "INSERT INTO calibrated_values VALUES (?, ?, ?, 'pm2_5', ?, '', 'none', '1', 'none')",
                    [d, i * 2 + k, (T0 + timedelta(hours=i, minutes=20 * k)).replace(tzinfo=None),
                     None if v is None else v + k])
    store.close()
    assert cli("consolidate", "import-areas", str(areas), "--id-property", "insee", "--kind", "commune",
               data=data).returncode == 0
    res = cli("consolidate", "import-reference", str(ref), "--station", "FR-TEST", "--time", "time",
              "--value", "pm2_5=pm25", "--lat", "44.835", "--lon", "-0.585", "--utc-offset", "+01:00", data=data)
    assert res.returncode == 0, res.stderr
    assert "3 reference values" in res.stdout
    return data


@pytest.fixture
def client(loaded):
    store = DuckDBStore(loaded)
    with TestClient(create_app(store)) as c:
        yield c
    store.close()


def test_areas_list_counts_devices_by_public_location(client):
    body = client.get("/api/v1/areas").json()
    assert [(a["id"], a["name"], a["kind"], a["devices"], a["reference_stations"]) for a in body["areas"]] == [
        ("33039", "Est", "commune", 1, 0), ("33063", "Ouest", "commune", 2, 1)]
    one = client.get("/api/v1/areas/33063").json()
    assert one["properties"]["devices"] == ["dev-a", "dev-b"] and one["geometry"]["type"] == "Polygon"
    assert "44.8304" not in json.dumps(one)  # never the exact location


def test_aggregates_average_device_means_and_carry_the_reference(client):
    r = client.get("/api/v1/areas/33063/aggregates",
                   params={"quantity": "pm2_5", "start": "2026-11-20T00:00:00Z", "end": "2026-11-20T03:00:00Z",
                           "every": "1h"})
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    # reference times were local (+01:00): 00:00 local is 23:00 UTC the day before, outside the period
    assert [x["time"] for x in rows] == ["2026-11-20T00:00:00Z", "2026-11-20T01:00:00Z", "2026-11-20T02:00:00Z"]
    assert rows[0]["mean"] == pytest.approx((10.5 + 20.5) / 2) and rows[0]["devices"] == 2 and rows[0]["values"] == 4
    assert rows[0]["min"] == 10.5 and rows[0]["max"] == 20.5
    assert rows[1]["mean"] == pytest.approx(12.5) and rows[1]["devices"] == 1  # NULL (excluded) values left out
    assert rows[0]["reference_mean"] == pytest.approx(11.5) and rows[0]["reference_stations"] == 1
    assert rows[1]["reference_mean"] == pytest.approx(12.5)
    daily = client.get("/api/v1/areas/33063/aggregates",
                       params={"quantity": "pm2_5", "start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z",
                               "every": "1d"}).json()["rows"]
    assert len(daily) == 1 and daily[0]["devices"] == 2


@pytest.mark.parametrize("params, status, words", [
    ({"quantity": "pm2_5", "every": "1w"}, 400, "every"),
    ({"quantity": "smoke"}, 400, "unknown quantity"),
    ({"quantity": "pm2_5", "start": "2026-11-21", "end": "2026-11-20"}, 400, "after start"),
    ({"quantity": "pm2_5", "start": "yesterday"}, 400, "ISO 8601"),
    ({"quantity": "pm2_5", "start": "2000-01-01", "end": "2026-01-01", "every": "1m"}, 400, "buckets"),
])
def test_bad_aggregate_requests_get_a_clear_400(client, params, status, words):
    r = client.get("/api/v1/areas/33063/aggregates", params=params)
    assert r.status_code == status and words in r.text


def test_unknown_area_is_404_and_a_bad_id_422(client):
    assert client.get("/api/v1/areas/99999/aggregates", params={"quantity": "pm2_5"}).status_code == 404
    assert client.get("/api/v1/areas/no%20such/aggregates", params={"quantity": "pm2_5"}).status_code == 422


def test_import_errors_are_clear_and_change_nothing(tmp_path, loaded):
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": []}')
    res = cli("consolidate", "import-areas", str(bad), data=loaded)
    assert res.returncode == 2 and "no features" in res.stderr
    res = cli("consolidate", "import-reference", str(loaded.parent / "station.csv"), "--station", "X", "--time", "time",
              "--value", "pm25=pm25", data=loaded)
    assert res.returncode == 2 and "unknown quantity" in res.stderr
    store = DuckDBStore(loaded)
    try:
        assert store._con.execute("SELECT count(*) FROM reference_values").fetchone()[0] == 3
        assert store._con.execute("SELECT count(*) FROM areas").fetchone()[0] == 2
    finally:
        store.close()


def test_layer_values_flow_into_area_aggregates(tmp_path):
    """From raw readings through the calibrated layer to an area aggregate, excluded values left out."""
    from test_calibrated_layer import ingest, reading

    store = DuckDBStore(tmp_path)
    try:
        ingest(store, "dev-a", [reading(s, pm=10.0 + s % 2) for s in range(10)] + [reading(10, pm=2000.0)])
        store._con.execute("INSERT INTO device_sites (device, public_lat, public_lon) VALUES ('dev-a', 44.83, -0.59)")
        from datacityzen.store.consolidated import for_store
        from datacityzen.consolidation.geometry import parse_feature_collection as parse

        for_store(store).import_areas(parse(json.dumps(GEOJSON), "insee"))
        CalibratedLayer(store).recompute()
        rows = for_store(store).aggregates("33063", "pm2_5", T0, T0 + timedelta(hours=1), 3_600_000_000)
        assert rows[0]["values"] == 10 and rows[0]["max"] == pytest.approx(10.5)  # 2000 is out of range
    finally:
        store.close()
