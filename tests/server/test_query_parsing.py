"""Property tests for the query parameter parsers and the JSON/CSV/Parquet encoders of the readings API."""
import csv
import io
import json
import math
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import HTTPException
from hypothesis import given, settings
from hypothesis import strategies as st

from datacityzen.api.deps import parse_bbox, parse_every
from datacityzen.api.streams import csv_stream, iso_times, json_stream, parquet_stream

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@given(st.integers(1, 10_000), st.sampled_from(sorted(UNITS)))
def test_every_is_number_times_unit_or_a_clear_400(n, unit):
    seconds = n * UNITS[unit]
    if seconds <= 366 * 86400:
        assert parse_every(f"{n}{unit}") == seconds
    else:
        with pytest.raises(HTTPException) as e:
            parse_every(f"{n}{unit}")
        assert e.value.status_code == 400


@given(st.text(max_size=12))
def test_every_never_fails_other_than_400(text):
    try:
        assert parse_every(text) is None or parse_every(text) >= 1
    except HTTPException as e:
        assert e.status_code == 400 and "every" in e.detail


lon = st.floats(-180, 180, allow_nan=False)
lat = st.floats(-90, 90, allow_nan=False)


@given(lon, lat, lon, lat)
def test_bbox_round_trips_or_says_min_above_max(a, b, c, d):
    text = f"{a!r},{b!r},{c!r},{d!r}"
    if a <= c and b <= d:
        assert parse_bbox(text) == (a, b, c, d)
    else:
        with pytest.raises(HTTPException) as e:
            parse_bbox(text)
        assert e.value.status_code == 400 and "minimum" in e.value.detail


@given(st.text(max_size=40))
def test_bbox_never_fails_other_than_400(text):
    try:
        box = parse_bbox(text)
        assert box is None or len(box) == 4
    except HTTPException as e:
        assert e.status_code == 400 and "bbox" in e.detail


SCHEMA = pa.schema([
    ("time", pa.timestamp("us")), ("device", pa.string()), ("quantity", pa.string()),
    ("value", pa.float64()), ("seq", pa.int64()), ("flags", pa.list_(pa.string())),
])
T0 = datetime(2026, 1, 1)
rows = st.lists(st.tuples(
    st.integers(0, 10**12),  # microseconds after T0
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8),
    st.sampled_from(["pm2_5", "temperature"]),
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    st.integers(0, 2**40),
    st.lists(st.sampled_from(["warmup", "out_of_range", "humidity_high"]), max_size=2),
), max_size=30)


def batches_of(data, size=7):
    cols = list(zip(*data)) if data else [[]] * 6
    arrays = [
        pa.array([T0 + timedelta(microseconds=u) for u in cols[0]], pa.timestamp("us")),
        pa.array(cols[1], pa.string()), pa.array(cols[2], pa.string()), pa.array(cols[3], pa.float64()),
        pa.array(cols[4], pa.int64()), pa.array(cols[5], pa.list_(pa.string())),
    ]
    table = pa.Table.from_arrays(arrays, schema=SCHEMA)
    return table.to_batches(max_chunksize=size)


def expected_time(u):
    t = T0 + timedelta(microseconds=u)
    return t.isoformat(timespec="microseconds" if t.microsecond else "seconds") + "Z"


def finite_or_none(v):
    return v if v is not None and math.isfinite(v) else None


@settings(max_examples=60, deadline=None)
@given(rows)
def test_json_stream_is_valid_json_with_every_row(data):
    out = json.loads(b"".join(json_stream(SCHEMA, batches_of(data))))
    assert out == [
        {"time": expected_time(u), "device": d, "quantity": q, "value": finite_or_none(v), "seq": s, "flags": f}
        for u, d, q, v, s, f in data
    ]


@settings(max_examples=60, deadline=None)
@given(rows)
def test_csv_stream_reads_back(data):
    text = b"".join(csv_stream(SCHEMA, batches_of(data))).decode()
    got = list(csv.reader(io.StringIO(text, newline="")))
    assert got[0] == SCHEMA.names
    assert len(got) == len(data) + 1
    for (u, d, q, v, s, f), line in zip(data, got[1:]):
        assert line[0] == expected_time(u) and line[1] == d and line[2] == q and int(line[4]) == s
        assert line[5] == ";".join(f)
        fv = finite_or_none(v)
        assert (line[3] == "") if fv is None else (float(line[3]) == fv)


@settings(max_examples=30, deadline=None)
@given(rows)
def test_parquet_stream_reads_back(data):
    table = pq.read_table(io.BytesIO(b"".join(parquet_stream(SCHEMA, batches_of(data)))))
    assert table.num_rows == len(data)
    assert table.column("seq").to_pylist() == [r[4] for r in data]
    assert table.column("flags").to_pylist() == [r[5] for r in data]


def test_iso_times_drop_zero_microseconds_and_keep_others():
    col = pa.array([T0, T0 + timedelta(microseconds=5), None], pa.timestamp("us"))
    assert iso_times(col) == ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00.000005Z", None]
