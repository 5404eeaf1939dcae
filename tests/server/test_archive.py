"""The daily open-data archive from a real DuckDB file: layout, public locations only, idempotence,
the CLI and the daily run inside `serve`."""
import csv
import hashlib
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from datacityzen import archive
from datacityzen.store.base import ReadingBatch
from datacityzen.store.duckdb_store import DuckDBStore

DAY = date(2026, 3, 2)
REFERENCE_CSV = Path("/work/shared/data/sensor_community_2020-01-01_bme280_sensor_141_first2h.csv")
EXACT = {"dev-a": (44.837123, -0.579314), "dev-b": (44.841037, -0.571022)}
PUBLIC = {"dev-a": (44.8372, -0.5795), "dev-b": (44.8411, -0.5709)}  # snapped cells (stand-ins)


def readings(device, start, n, step_s=300, kit="air-outdoor-v1"):
    times = np.datetime64(start.replace(tzinfo=None), "us") + np.arange(n) * np.timedelta64(step_s, "s")
    seq = np.arange(n, dtype=np.int64) + int((start - datetime(2026, 1, 1, tzinfo=timezone.utc)).total_seconds() // step_s)
    obj = lambda x: np.array(x, dtype=object)  # noqa: E731
    pm = 3.0 + (seq % 50) / 4
    temp = 9.0 + (seq % 7) / 8
    flags = np.where(seq % 40 == 0, "warmup", "").astype(object)
    return ReadingBatch(
        readings_device=obj([device] * n), readings_seq=seq, readings_time=times,
        readings_kit=obj([kit] * n), readings_firmware=obj(["0.1.0"] * n),
        readings_received_at=times, readings_transport=obj(["mqtt"] * n), readings_errors=obj([None] * n),
        values_device=obj([device] * 2 * n), values_seq=np.concatenate([seq, seq]),
        values_time=np.concatenate([times, times]), values_quantity=obj(["temperature"] * n + ["pm2_5"] * n),
        values_value=np.concatenate([temp, pm]), values_flags=np.concatenate([np.full(n, "", dtype=object), flags]),
    )


def fill(store, day=DAY):
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    # the day itself, plus one reading just before and at the very start of the next day
    store.insert(readings("dev-a", start - timedelta(minutes=5), 2 + 288))  # 23:55 the day before .. 23:55
    store.insert(readings("dev-b", start, 288 + 1))  # 00:00 .. 00:00 the next day
    for d in EXACT:
        store.set_site(d, *EXACT[d], *PUBLIC[d])
    n = 10
    obj = lambda x: np.array(x, dtype=object)  # noqa: E731
    seq0 = int((start - datetime(2026, 1, 1, tzinfo=timezone.utc)).total_seconds() // 300)
    store.insert_calibrated({
        "device": obj(["dev-b"] * n), "seq": np.arange(seq0, seq0 + n, dtype=np.int64),
        "time": np.datetime64(start.replace(tzinfo=None), "us") + np.arange(n) * np.timedelta64(300, "s"),
        "quantity": obj(["pm2_5"] * n), "value": obj([1.5] * (n - 1) + [None]),
        "flags": obj([""] * (n - 1) + ["fog"]), "model": obj(["epa-2021"] * n),
        "model_version": obj(["1"] * n), "calibration": obj(["cal-0001"] * n),
    })


@pytest.fixture
def store(tmp_path):
    s = DuckDBStore(tmp_path / "data")
    fill(s)
    yield s
    s.close()


def digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_layout_one_csv_per_device_parquet_licence_readme(store, tmp_path):
    result = archive.archive_day(store, DAY, tmp_path / "out")
    folder = tmp_path / "out" / "2026-03-02"
    assert result.directory == folder and result.devices == ["dev-a", "dev-b"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "2026-03-02_air-outdoor-v1_sensor_dev-a.csv", "2026-03-02_air-outdoor-v1_sensor_dev-b.csv",
        "2026-03-02_datacityzen.parquet", "LICENSE.txt", "README.md"]
    assert "Open Database License" in (folder / "LICENSE.txt").read_text() and "ODbL" in (folder / "README.md").read_text()


def test_csv_follows_the_sensor_community_layout(store, tmp_path):
    archive.archive_day(store, DAY, tmp_path)
    text = (tmp_path / "2026-03-02" / "2026-03-02_air-outdoor-v1_sensor_dev-a.csv").read_text()
    rows = list(csv.reader(text.splitlines(), delimiter=";"))
    reference_header = REFERENCE_CSV.read_text().splitlines()[0].split(";")
    assert rows[0][:6] == reference_header[:6] == ["sensor_id", "sensor_type", "location", "lat", "lon", "timestamp"]
    assert rows[0][6:] == ["pm2_5", "temperature", "flags"]  # registry order, then the flags
    body = rows[1:]
    assert len(body) == 288  # 00:00 .. 23:55, nothing from the day before or after
    assert body[0][:6] == ["dev-a", "air-outdoor-v1", "", "44.837", "-0.580", "2026-03-02T00:00:00"]
    assert body[-1][5] == "2026-03-02T23:55:00"
    seq = int((datetime(2026, 3, 2, tzinfo=timezone.utc) - datetime(2026, 1, 1, tzinfo=timezone.utc)).total_seconds() // 300)
    assert float(body[0][6]) == 3.0 + (seq % 50) / 4 and float(body[0][7]) == 9.0 + (seq % 7) / 8
    flagged = [r for r in body if r[8]]
    assert flagged and all(r[8] == "pm2_5:warmup" for r in flagged)


def test_only_public_locations_leave_the_database(store, tmp_path):
    archive.archive_day(store, DAY, tmp_path)
    folder = tmp_path / "2026-03-02"
    blobs = b"".join(p.read_bytes() for p in folder.iterdir())
    for lat, lon in EXACT.values():
        for exact in (lat, lon):
            assert repr(exact).encode() not in blobs
            assert f"{exact:.4f}".encode() not in blobs
    table = pq.read_table(folder / "2026-03-02_datacityzen.parquet")
    assert {(r["device"], r["lat"], r["lon"]) for r in table.select(["device", "lat", "lon"]).to_pylist()} == {
        (d, round(PUBLIC[d][0], 3), round(PUBLIC[d][1], 3)) for d in PUBLIC}


def test_parquet_holds_both_layers_of_the_day(store, tmp_path):
    archive.archive_day(store, DAY, tmp_path)
    table = pq.read_table(tmp_path / "2026-03-02" / "2026-03-02_datacityzen.parquet")
    assert table.num_rows == 2 * 288 * 2 + 10
    assert str(table.schema.field("time").type) == "timestamp[us, tz=UTC]"
    times = table.column("time").to_pylist()
    assert min(times) == datetime(2026, 3, 2, tzinfo=timezone.utc)
    assert max(times) == datetime(2026, 3, 2, 23, 55, tzinfo=timezone.utc)
    cal = [r for r in table.to_pylist() if r["layer"] == "calibrated"]
    assert len(cal) == 10 and cal[0]["model"] == "epa-2021" and cal[-1]["value"] is None and cal[-1]["flags"] == "fog"


def test_running_twice_gives_the_same_bytes(store, tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "ROW_GROUP_ROWS", 97)  # several row groups, cut independently of the query
    archive.archive_day(store, DAY, tmp_path)
    first = digest(tmp_path / "2026-03-02")
    assert pq.ParquetFile(tmp_path / "2026-03-02" / "2026-03-02_datacityzen.parquet").num_row_groups > 5
    archive.archive_day(store, DAY, tmp_path)
    assert digest(tmp_path / "2026-03-02") == first
    assert not list((tmp_path / "2026-03-02").glob("*.tmp"))


def test_a_day_without_readings_writes_nothing(store, tmp_path):
    result = archive.archive_day(store, date(2026, 5, 1), tmp_path)
    assert result.devices == [] and not (tmp_path / "2026-05-01").exists()


def test_readme_describes_every_csv_column(store, tmp_path):
    archive.archive_day(store, DAY, tmp_path)
    folder = tmp_path / "2026-03-02"
    readme = (folder / "README.md").read_text()
    for path in folder.glob("*.csv"):
        for column in path.read_text().splitlines()[0].split(";"):
            assert f"`{column}`" in readme, column
    for column in pq.read_schema(folder / "2026-03-02_datacityzen.parquet").names:
        assert f"`{column}`" in readme, column


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "datacityzen.cli", "archive", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_archive_command(tmp_path):
    s = DuckDBStore(tmp_path / "data")
    fill(s)
    s.close()
    proc = run_cli("--date", "2026-03-02", "--out", str(tmp_path / "out"), "--data", str(tmp_path / "data"))
    assert proc.returncode == 0, proc.stderr
    assert "2 devices" in proc.stdout
    assert (tmp_path / "out" / "2026-03-02" / "2026-03-02_datacityzen.parquet").exists()
    bad = run_cli("--date", "02/03/2026", "--data", str(tmp_path / "data"))
    assert bad.returncode == 2 and "not a day like" in bad.stderr


def test_cli_archive_says_so_when_the_database_is_in_use(store, tmp_path):
    proc = run_cli("--date", "2026-03-02", "--out", str(tmp_path / "out"), "--data", str(tmp_path / "data"))
    assert proc.returncode == 2 and "running server archives yesterday" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_serve_archives_yesterday_into_the_data_dir(tmp_path, make_service):
    yesterday = (datetime.now(timezone.utc) - timedelta(days=1)).date()
    s = DuckDBStore(tmp_path / "served")
    fill(s, yesterday)
    s.close()
    service = make_service(data_dir=tmp_path / "served")
    assert service.archiver.done.wait(30)
    folder = tmp_path / "served" / "archive" / yesterday.isoformat()
    assert (folder / f"{yesterday.isoformat()}_datacityzen.parquet").exists()
    assert len(list(folder.glob("*.csv"))) == 2
    assert service.archiver.run_once() is None  # already done today: not again
