"""The researcher API on a real DuckDB file, through a real HTTP server: every parameter and format.

Expected values are computed here with numpy from the rows the test inserted, never copied from the
server's answers.
"""
import csv
import io
import threading
import time
from datetime import datetime, timedelta, timezone

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest
import uvicorn

from brokers import free_port
from datacityzen.api.app import create_app
from datacityzen.store.base import ReadingBatch
from datacityzen.store.duckdb_store import DuckDBStore

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
MINUTES = 3 * 24 * 60  # three days of one-minute readings
DEVICES = ("dev-a", "dev-b", "dev-c")
# Exact and public (snapped) locations. dev-c's exact location is inside BBOX_CENTRE but its public
# one is not: a bbox must only ever see public locations.
SITES = {
    "dev-a": ((44.83712, -0.57931), (44.837, -0.579)),
    "dev-b": ((44.84103, -0.57102), (44.841, -0.571)),
    "dev-c": ((44.83950, -0.57500), (44.900, -0.700)),
}
BBOX_CENTRE = "-0.58,44.83,-0.57,44.845"


def series(device_index: int, n: int = MINUTES):
    """Deterministic values: pm2_5 rises with the minute, temperature follows a daily cycle."""
    minute = np.arange(n)
    pm = 5.0 + device_index + (minute % 97) * 0.25
    temp = 10.0 + 5.0 * np.sin(2 * np.pi * minute / 1440) + device_index
    return pm, temp


def batch_for(device_index: int) -> ReadingBatch:
    device = DEVICES[device_index]
    n = MINUTES
    times = np.datetime64(T0.replace(tzinfo=None), "us") + np.arange(n) * np.timedelta64(60, "s")
    pm, temp = series(device_index)
    seq = np.arange(n, dtype=np.int64)
    flags = np.where(seq % 100 == 0, "warmup", "").astype(object)
    obj = lambda x: np.array(x, dtype=object)  # noqa: E731
    return ReadingBatch(
        readings_device=obj([device] * n), readings_seq=seq, readings_time=times,
        readings_kit=obj(["air-outdoor-v1"] * n), readings_firmware=obj(["0.1.0"] * n),
        readings_received_at=times + np.timedelta64(2, "s"), readings_transport=obj(["mqtt"] * n),
        readings_errors=obj([None] * n),
        values_device=obj([device] * 2 * n), values_seq=np.concatenate([seq, seq]),
        values_time=np.concatenate([times, times]),
        values_quantity=obj(["pm2_5"] * n + ["temperature"] * n),
        values_value=np.concatenate([pm, temp]),
        values_flags=np.concatenate([flags, np.full(n, "", dtype=object)]),
    )


def calibrated_for(device_index: int) -> dict:
    """pm2_5 halved; every 10th value excluded (NULL) with a flag."""
    device = DEVICES[device_index]
    n = MINUTES
    seq = np.arange(n, dtype=np.int64)
    pm, _ = series(device_index)
    value = pm * 0.5
    excluded = seq % 10 == 0
    obj = lambda x: np.array(x, dtype=object)  # noqa: E731
    return {
        "device": obj([device] * n), "seq": seq,
        "time": np.datetime64(T0.replace(tzinfo=None), "us") + seq * np.timedelta64(60, "s"),
        "quantity": obj(["pm2_5"] * n),
        "value": obj([None if e else float(v) for v, e in zip(value, excluded)]),
        "flags": np.where(excluded, "humidity_high", "").astype(object),
        "model": obj(["epa-2021"] * n), "model_version": obj(["1"] * n), "calibration": obj(["cal-0001"] * n),
    }


class ApiServer:
    """The real FastAPI app on uvicorn in a thread, on a free loopback port."""

    def __init__(self, store):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "API server did not start"
            time.sleep(0.02)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = DuckDBStore(tmp_path_factory.mktemp("query-db"))
    for i, device in enumerate(DEVICES):
        s.insert(batch_for(i))
        (lat, lon), (plat, plon) = SITES[device]
        s.set_site(device, lat, lon, plat, plon)
    s.insert_calibrated(calibrated_for(0))
    yield s
    s.close()


@pytest.fixture(scope="module")
def api(store):
    server = ApiServer(store)
    yield server.url
    server.stop()


def get(api, **params):
    return httpx.get(api + "/api/v1/readings", params=params, timeout=30)


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- selection ----------------------------------------------------------------------------------
def test_one_device_one_quantity_all_values_in_order(api):
    rows = get(api, device="dev-b", quantity="pm2_5").json()
    pm, _ = series(1)
    assert len(rows) == MINUTES
    assert [r["value"] for r in rows] == pm.tolist()
    assert [r["seq"] for r in rows] == list(range(MINUTES))
    assert rows[0] == {"time": iso(T0), "device": "dev-b", "quantity": "pm2_5", "value": pm[0], "seq": 0,
                       "flags": ["warmup"]}
    assert rows[1]["flags"] == [] and rows[1]["time"] == iso(T0 + timedelta(minutes=1))


def test_devices_and_quantities_repeated_or_comma_separated(api):
    a = get(api, device="dev-a,dev-c", quantity="pm2_5,temperature", start=iso(T0), end=iso(T0 + timedelta(minutes=5)))
    b = httpx.get(api + "/api/v1/readings", params=[("device", "dev-a"), ("device", "dev-c"), ("quantity", "pm2_5"),
                  ("quantity", "temperature"), ("start", iso(T0)), ("end", iso(T0 + timedelta(minutes=5)))])
    assert a.json() == b.json()
    keys = [(r["device"], r["quantity"]) for r in a.json()]
    assert keys == sorted(keys) and len(keys) == 2 * 2 * 5


def test_time_range_start_inclusive_end_exclusive_with_offsets(api):
    start = (T0 + timedelta(hours=2)).astimezone(timezone(timedelta(hours=1))).isoformat()  # 03:00+01:00
    rows = get(api, device="dev-a", quantity="pm2_5", start=start, end=iso(T0 + timedelta(hours=2, minutes=3))).json()
    assert [r["seq"] for r in rows] == [120, 121, 122]


def test_bbox_selects_by_public_location_only(api):
    rows = get(api, bbox=BBOX_CENTRE, quantity="pm2_5", end=iso(T0 + timedelta(minutes=1))).json()
    assert [r["device"] for r in rows] == ["dev-a", "dev-b"]
    # dev-c's public cell is elsewhere: a box around it finds it, and only it.
    rows = get(api, bbox="-0.71,44.89,-0.69,44.91", quantity="pm2_5", end=iso(T0 + timedelta(minutes=1))).json()
    assert [r["device"] for r in rows] == ["dev-c"]


def test_bbox_and_device_is_the_intersection(api):
    rows = get(api, bbox=BBOX_CENTRE, device="dev-b,dev-c", quantity="pm2_5", end=iso(T0 + timedelta(minutes=1))).json()
    assert [r["device"] for r in rows] == ["dev-b"]


def test_unknown_device_gives_an_empty_list(api):
    r = get(api, device="nobody", quantity="pm2_5")
    assert r.status_code == 200 and r.json() == []


# -- layers ---------------------------------------------------------------------------------------
def test_calibrated_layer_carries_model_flags_and_missing_values(api):
    rows = get(api, device="dev-a", quantity="pm2_5", layer="calibrated", end=iso(T0 + timedelta(minutes=12))).json()
    pm, _ = series(0)
    assert [r["seq"] for r in rows] == list(range(12))
    assert rows[0]["value"] is None and rows[0]["flags"] == ["humidity_high"]
    assert rows[1]["value"] == pm[1] * 0.5 and rows[1]["flags"] == []
    assert {(r["model"], r["model_version"]) for r in rows} == {("epa-2021", "1")}
    # the raw layer of the same readings is untouched
    raw = get(api, device="dev-a", quantity="pm2_5", end=iso(T0 + timedelta(minutes=12))).json()
    assert [r["value"] for r in raw] == pm[:12].tolist() and "model" not in raw[0]


def test_calibrated_layer_of_an_uncalibrated_device_is_empty(api):
    assert get(api, device="dev-b", quantity="pm2_5", layer="calibrated").json() == []


# -- aggregation --------------------------------------------------------------------------------------
@pytest.mark.parametrize("agg, fn", [
    ("mean", np.mean), ("min", np.min), ("max", np.max), ("median", np.median), ("count", len),
])
def test_hourly_aggregates_match_numpy(api, agg, fn):
    rows = get(api, device="dev-b", quantity="temperature", every="1h", agg=agg).json()
    _, temp = series(1)
    hourly = temp.reshape(-1, 60)
    assert len(rows) == MINUTES // 60
    assert [r["time"] for r in rows[:2]] == [iso(T0), iso(T0 + timedelta(hours=1))]
    np.testing.assert_allclose([r["value"] for r in rows], [fn(h) for h in hourly], rtol=1e-12)
    assert {r["count"] for r in rows} == {60}


def test_daily_windows_align_on_utc_midnight_and_default_to_mean(api):
    start = T0 + timedelta(hours=6)  # the first window is partial: 18 hours
    rows = get(api, device="dev-a", quantity="pm2_5", every="1d", start=start.isoformat()).json()
    pm, _ = series(0)
    assert [r["time"] for r in rows] == [iso(T0 + timedelta(days=d)) for d in range(3)]
    assert [r["count"] for r in rows] == [18 * 60, 1440, 1440]
    np.testing.assert_allclose(rows[0]["value"], pm[360:1440].mean())


def test_aggregates_skip_excluded_calibrated_values(api):
    rows = get(api, device="dev-a", quantity="pm2_5", layer="calibrated", every="10m", agg="count",
               end=iso(T0 + timedelta(minutes=20))).json()
    assert [r["value"] for r in rows] == [9.0, 9.0] and [r["count"] for r in rows] == [9, 9]


def test_fifteen_minute_windows_several_devices(api):
    rows = get(api, device="dev-a,dev-b", quantity="pm2_5", every="15m", agg="max", end=iso(T0 + timedelta(hours=1))).json()
    assert [(r["device"], r["time"]) for r in rows] == [
        (d, iso(T0 + timedelta(minutes=15 * k))) for d in ("dev-a", "dev-b") for k in range(4)]
    pm, _ = series(1)
    assert rows[5]["value"] == pm[15:30].max()


# -- formats --------------------------------------------------------------------------------------
def test_csv_has_the_json_columns_and_values(api):
    params = dict(device="dev-a", quantity="pm2_5", end=iso(T0 + timedelta(minutes=3)))
    r = get(api, format="csv", **params)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    js = get(api, **params).json()
    assert list(rows[0]) == list(js[0]) == ["time", "device", "quantity", "value", "seq", "flags"]
    assert [(x["time"], float(x["value"]), int(x["seq"]), x["flags"]) for x in rows] == [
        (j["time"], j["value"], j["seq"], ";".join(j["flags"])) for j in js]


def test_csv_calibrated_missing_value_is_an_empty_field(api):
    r = get(api, device="dev-a", quantity="pm2_5", layer="calibrated", format="csv", end=iso(T0 + timedelta(minutes=2)))
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows[0]["value"] == "" and rows[0]["flags"] == "humidity_high" and rows[0]["model"] == "epa-2021"


def test_parquet_round_trips_with_utc_times(api):
    r = get(api, device="dev-a,dev-b", quantity="pm2_5,temperature", format="parquet")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(r.content))
    assert table.num_rows == 2 * 2 * MINUTES
    assert str(table.schema.field("time").type) == "timestamp[us, tz=UTC]"
    first = table.slice(0, 1).to_pylist()[0]
    assert first["time"] == T0 and first["flags"] == ["warmup"] and first["device"] == "dev-a"
    pm, _ = series(1)
    b = table.filter((table["device"].to_numpy() == "dev-b") & (table["quantity"].to_numpy() == "pm2_5"))
    assert b["value"].to_pylist() == pm.tolist()


def test_parquet_aggregated_and_empty(api):
    r = get(api, device="dev-a", quantity="pm2_5", every="1d", agg="min", format="parquet")
    t = pq.read_table(io.BytesIO(r.content))
    assert t.column_names == ["time", "device", "quantity", "value", "count"] and t.num_rows == 3
    empty = pq.read_table(io.BytesIO(get(api, device="nobody", quantity="pm2_5", format="parquet").content))
    assert empty.num_rows == 0 and "value" in empty.column_names


def test_large_export_arrives_in_many_chunks(api):
    """The server sends while it reads (one encoded batch at a time), not one body built in memory."""
    chunks = 0
    with httpx.stream("GET", api + "/api/v1/readings",
                      params={"device": ",".join(DEVICES), "quantity": "pm2_5,temperature", "format": "csv"}) as r:
        lines = 0
        for chunk in r.iter_raw():
            chunks += 1
            lines += chunk.count(b"\n")
    assert lines == 1 + 3 * 2 * MINUTES
    assert chunks > 3


# -- stats ----------------------------------------------------------------------------------------------
def stats(api, **params):
    return httpx.get(api + "/api/v1/stats", params=params, timeout=30)


def test_stats_per_device_over_the_range(api):
    r = stats(api, device="dev-a,dev-b", quantity="temperature", start=iso(T0), end=iso(T0 + timedelta(days=1)))
    rows = r.json()
    assert [x["device"] for x in rows] == ["dev-a", "dev-b"]
    for i, row in enumerate(rows):
        _, temp = series(i)
        day = temp[:1440]
        assert row["count"] == 1440 and row["devices"] == 1
        assert row["window_start"] == iso(T0) and row["window_end"] == iso(T0 + timedelta(days=1))
        np.testing.assert_allclose([row["mean"], row["min"], row["max"], row["median"], row["stddev"]],
                                   [day.mean(), day.min(), day.max(), np.median(day), day.std(ddof=1)], rtol=1e-9)
        assert row["first"] == iso(T0) and row["last"] == iso(T0 + timedelta(minutes=1439))


def test_stats_pooled_over_a_bbox_area_per_day(api):
    rows = stats(api, bbox=BBOX_CENTRE, quantity="pm2_5", every="1d", group="area").json()
    assert len(rows) == 3 and all(x["device"] is None and x["devices"] == 2 for x in rows)
    pooled = np.concatenate([series(0)[0][1440:2880], series(1)[0][1440:2880]])
    day2 = rows[1]
    assert day2["window_start"] == iso(T0 + timedelta(days=1)) and day2["window_end"] == iso(T0 + timedelta(days=2))
    assert day2["count"] == 2880
    np.testing.assert_allclose([day2["mean"], day2["median"], day2["stddev"], day2["min"], day2["max"]],
                               [pooled.mean(), np.median(pooled), pooled.std(ddof=1), pooled.min(), pooled.max()])


def test_stats_open_range_csv_and_calibrated(api):
    r = stats(api, device="dev-a", quantity="pm2_5", layer="calibrated", format="csv")
    (row,) = list(csv.DictReader(io.StringIO(r.text)))
    assert row["window_start"] == "" and row["window_end"] == ""
    assert int(row["count"]) == MINUTES - MINUTES // 10  # excluded values are not counted


# -- bad input: a clear 4xx, never a 500 -------------------------------------------------------------------
@pytest.mark.parametrize("path, params, status, message", [
    ("readings", {"device": "dev-a", "quantity": "radon"}, 400, "unknown quantity radon"),
    ("readings", {"device": "dev-a", "quantity": "pm2_5", "start": "2026-03-02", "end": "2026-03-01"}, 400, "before start"),
    ("readings", {"device": "dev-a", "quantity": "pm2_5", "start": "0001-01-01T00:00:00+05:00"}, 400, "ISO 8601"),
    ("readings", {"quantity": "pm2_5"}, 400, "device"),
    ("readings", {"bbox": "1,2,3", "quantity": "pm2_5"}, 400, "four numbers"),
    ("readings", {"bbox": "a,b,c,d", "quantity": "pm2_5"}, 400, "not a number"),
    ("readings", {"bbox": "-0.5,44.9,-0.6,44.8", "quantity": "pm2_5"}, 400, "minimum"),
    ("readings", {"bbox": "-0.6,44.8,-0.5,95", "quantity": "pm2_5"}, 400, "latitudes"),
    ("readings", {"bbox": "-190,44.8,-0.5,44.9", "quantity": "pm2_5"}, 400, "longitudes"),
    ("readings", {"bbox": "nan,44.8,-0.5,44.9", "quantity": "pm2_5"}, 400, "finite"),
    ("readings", {"device": "dev-a", "quantity": "pm2_5", "every": "1y"}, 400, "not a window"),
    ("readings", {"device": "dev-a", "quantity": "pm2_5", "every": "0h"}, 400, "not a window"),
    ("readings", {"device": "dev-a", "quantity": "pm2_5", "every": "400d"}, 400, "366 days"),
    ("readings", {"device": "dev-a", "quantity": "pm2_5", "agg": "max"}, 400, "needs a window"),
    ("readings", {"device": "dev-a", "quantity": "pm2_5", "every": "1h", "agg": "mode"}, 422, "agg"),
    ("readings", {"device": "dev-a", "quantity": "pm2_5", "layer": "consolidated"}, 422, "layer"),
    ("readings", {"device": "dev-a", "quantity": "pm2_5", "format": "xlsx"}, 422, "format"),
    ("readings", {"device": "dev-a"}, 422, "quantity"),
    ("stats", {"device": "dev-a", "quantity": "pm2_5", "group": "city"}, 422, "group"),
    ("stats", {"device": "dev-a", "quantity": "pm2_5", "format": "parquet"}, 422, "format"),
    ("stats", {"bbox": "0,0,0", "quantity": "pm2_5"}, 400, "four numbers"),
    ("stats", {"device": "dev-a", "quantity": "nope"}, 400, "unknown quantity"),
    ("stats", {"device": "dev-a", "quantity": "pm2_5", "every": "soon"}, 400, "not a window"),
])
def test_bad_parameters_get_a_clear_4xx(api, path, params, status, message):
    r = httpx.get(f"{api}/api/v1/{path}", params=params)
    assert r.status_code == status, r.text[:300]
    assert message in r.text


def test_openapi_documents_every_parameter(api):
    spec = httpx.get(api + "/openapi.json").json()
    readings = {p["name"]: p for p in spec["paths"]["/api/v1/readings"]["get"]["parameters"]}
    assert set(readings) == {"device", "bbox", "quantity", "start", "end", "layer", "every", "agg", "format"}
    assert all(p.get("description") for p in readings.values())
    assert set(spec["paths"]["/api/v1/readings"]["get"]["responses"]["200"]["content"]) >= {
        "application/json", "text/csv", "application/vnd.apache.parquet"}
    stats_params = {p["name"] for p in spec["paths"]["/api/v1/stats"]["get"]["parameters"]}
    assert stats_params >= {"device", "bbox", "quantity", "start", "end", "layer", "every", "group", "format"}
