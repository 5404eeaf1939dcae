"""The DuckDB store on a real database file: idempotent inserts, quarantine, streaming reads."""
from datetime import datetime, timedelta, timezone

from datacityzen.ingest import wire_v1
from datacityzen.ingest.pipeline import Message, build_batch
from datacityzen.store.base import QuarantineEntry
from datacityzen.store.duckdb_store import DuckDBStore

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)


def uplink(device, seqs, kit="air-outdoor-v1"):
    readings = tuple(
        wire_v1.Reading(
            seq=s,
            time=T0 + timedelta(minutes=s),
            values={"pm2_5": 10.0 + s, "temperature": 12.5},
            flags={"pm2_5": ("warmup",)} if s == 0 else {},
            errors=(),
        )
        for s in seqs
    )
    return wire_v1.Uplink(device=device, kit=kit, firmware="0.1.0", readings=readings)


def msg():
    return Message("dcz/v1/x/up", b"{}", T0 + timedelta(hours=1))


def test_insert_is_idempotent_on_device_and_seq(tmp_path):
    store = DuckDBStore(tmp_path)
    first = store.insert(build_batch([(uplink("dev-a", range(5)), msg())]))
    assert (first.stored, first.duplicates) == (5, 0)
    again = store.insert(build_batch([(uplink("dev-a", range(3, 8)), msg()), (uplink("dev-a", [7]), msg())]))
    assert (again.stored, again.duplicates) == (3, 3)
    rows = [r for chunk in store.iter_readings(["dev-a"], ["pm2_5"], None, None) for r in chunk]
    assert [r[4] for r in rows] == list(range(8))
    assert [r[3] for r in rows] == [10.0 + s for s in range(8)]


def test_same_seq_on_another_device_is_another_reading(tmp_path):
    store = DuckDBStore(tmp_path)
    store.insert(build_batch([(uplink("dev-a", [1]), msg())]))
    assert store.insert(build_batch([(uplink("dev-b", [1]), msg())])).stored == 1


def test_data_survives_reopening_the_file(tmp_path):
    store = DuckDBStore(tmp_path)
    store.insert(build_batch([(uplink("dev-a", range(4)), msg())]))
    store.close()
    reopened = DuckDBStore(tmp_path)
    assert reopened.devices()[0]["readings"] == 4
    assert reopened.insert(build_batch([(uplink("dev-a", range(4)), msg())])).stored == 0


def test_flags_and_time_window(tmp_path):
    store = DuckDBStore(tmp_path)
    store.insert(build_batch([(uplink("dev-a", range(10)), msg())]))
    rows = [
        r
        for chunk in store.iter_readings(["dev-a"], ["pm2_5"], T0, T0 + timedelta(minutes=3), chunk_rows=2)
        for r in chunk
    ]
    assert [r[4] for r in rows] == [0, 1, 2]  # start inclusive, end exclusive
    assert rows[0][5] == "warmup" and rows[1][5] == ""


def test_quarantine_keeps_raw_bytes_and_reason(tmp_path):
    store = DuckDBStore(tmp_path)
    store.quarantine([QuarantineEntry(T0, "mqtt", "dcz/v1/x/up", "not JSON", b"\xff\x00garbage")])
    (entry,) = store.quarantined()
    assert entry["reason"] == "not JSON" and bytes(entry["payload"]) == b"\xff\x00garbage"
    assert store.devices() == []


def test_latest_values_per_quantity(tmp_path):
    store = DuckDBStore(tmp_path)
    store.insert(build_batch([(uplink("dev-a", range(3)), msg())]))
    latest = store.latest_values("dev-a")
    assert latest["pm2_5"]["value"] == 12.0 and latest["temperature"]["value"] == 12.5


# -- queries and extension points (issue 5) ---------------------------------------------------------
import duckdb  # noqa: E402
import pytest  # noqa: E402

from datacityzen.store.base import Aggregation, Selection  # noqa: E402


def test_reading_batches_are_bounded_by_chunk_rows(tmp_path):
    store = DuckDBStore(tmp_path)
    store.insert(build_batch([(uplink("dev-a", range(500)), msg())]))
    reader = store.reading_batches(Selection(("dev-a",), ("pm2_5",)), chunk_rows=64)
    sizes = [b.num_rows for b in reader]
    assert sum(sizes) == 500 and max(sizes) <= 64


def test_a_failing_insert_hook_rolls_the_readings_back(tmp_path):
    store = DuckDBStore(tmp_path)

    def broken(cur):
        raise RuntimeError("outbox full")

    store.insert_hooks.append(broken)
    with pytest.raises(RuntimeError):
        store.insert(build_batch([(uplink("dev-a", range(3)), msg())]))
    store.insert_hooks.clear()
    assert store.devices() == []
    assert store.insert(build_batch([(uplink("dev-a", range(3)), msg())])).stored == 3


def test_insert_hook_sees_only_the_new_readings(tmp_path):
    store = DuckDBStore(tmp_path)
    seen = []
    store.insert_hooks.append(lambda cur: seen.append(sorted(cur.execute("SELECT seq FROM new_keys").fetchall())))
    store.insert(build_batch([(uplink("dev-a", range(3)), msg())]))
    store.insert(build_batch([(uplink("dev-a", range(2, 5)), msg())]))
    assert seen == [[(0,), (1,), (2,)], [(3,), (4,)]]


def test_read_only_store_reads_and_refuses_writes(tmp_path):
    DuckDBStore(tmp_path).close()
    with pytest.raises(FileNotFoundError):
        DuckDBStore(tmp_path / "elsewhere", read_only=True)
    writer = DuckDBStore(tmp_path)
    writer.insert(build_batch([(uplink("dev-a", range(4)), msg())]))
    writer.close()
    reader = DuckDBStore(tmp_path, read_only=True)
    assert reader.devices()[0]["readings"] == 4
    with pytest.raises(duckdb.Error):
        reader.insert(build_batch([(uplink("dev-a", [9]), msg())]))


def test_bbox_reads_public_location_never_the_exact_one(tmp_path):
    store = DuckDBStore(tmp_path)
    store.insert(build_batch([(uplink("dev-a", range(2)), msg())]))
    store.set_site("dev-a", lat=44.80001, lon=-0.60001, public_lat=44.9, public_lon=-0.5)
    exact_box = Selection(None, ("pm2_5",), bbox=(-0.61, 44.79, -0.59, 44.81))
    public_box = Selection(None, ("pm2_5",), bbox=(-0.51, 44.89, -0.49, 44.91))
    assert store.reading_batches(exact_box).read_all().num_rows == 0
    assert store.reading_batches(public_box).read_all().num_rows == 2
    assert "lat" not in store.readings_sql(public_box)[0].replace("public_lat", "")


def test_stats_sql_matches_numpy(tmp_path):
    import numpy as np

    store = DuckDBStore(tmp_path)
    store.insert(build_batch([(uplink("dev-a", range(7)), msg())]))
    (row,) = store.stats_batches(Selection(("dev-a",), ("pm2_5",))).read_all().to_pylist()
    values = np.array([10.0 + s for s in range(7)])
    assert row["count"] == 7 and row["mean"] == values.mean() and row["median"] == np.median(values)
    assert row["stddev"] == pytest.approx(values.std(ddof=1))
    hourly = store.reading_batches(Selection(("dev-a",), ("pm2_5",)), Aggregation(3600, "max")).read_all()
    assert hourly.column("value").to_pylist() == [16.0]


def test_memory_limit_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DCZ_DUCKDB_MEMORY_LIMIT", "300MB")
    store = DuckDBStore(tmp_path)
    limit = store.connection.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert limit.startswith("286") or limit.startswith("300")  # DuckDB reports MiB
    monkeypatch.setenv("DCZ_DUCKDB_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="DCZ_DUCKDB_MEMORY_LIMIT"):
        DuckDBStore(tmp_path / "other")


def test_public_queries_leave_out_paused_and_deleted_periods(tmp_path):
    from datacityzen.store.registry import Registry

    store = DuckDBStore(tmp_path)
    Registry.of(store)  # creates publication_pauses and deleted_periods
    store.insert(build_batch([(uplink("dev-a", range(10)), msg()), (uplink("dev-b", range(10)), msg())]))
    naive = T0.replace(tzinfo=None)
    with store.write_lock:
        cur = store.connection.cursor()
        cur.execute("INSERT INTO publication_pauses VALUES ('dev-a', ?, ?)",
                    [naive + timedelta(minutes=2), naive + timedelta(minutes=4)])
        cur.execute("INSERT INTO publication_pauses VALUES ('dev-a', ?, NULL)", [naive + timedelta(minutes=8)])
        cur.execute("INSERT INTO deleted_periods VALUES ('dev-b', ?, ?, ?, 0)",
                    [naive, naive + timedelta(minutes=5), naive])
    sel = Selection(("dev-a", "dev-b"), ("pm2_5",))
    rows = store.reading_batches(sel).read_all().to_pylist()
    assert [r["seq"] for r in rows if r["device"] == "dev-a"] == [0, 1, 4, 5, 6, 7]
    assert [r["seq"] for r in rows if r["device"] == "dev-b"] == [5, 6, 7, 8, 9]
    stats = {r["device"]: r["count"] for r in store.stats_batches(sel).read_all().to_pylist()}
    assert stats == {"dev-a": 6, "dev-b": 5}
    day = store.day_batches(T0, T0 + timedelta(days=1)).read_all().to_pylist()
    assert sorted({(r["device"], r["seq"]) for r in day}) == sorted(
        [("dev-a", s) for s in (0, 1, 4, 5, 6, 7)] + [("dev-b", s) for s in range(5, 10)])


def test_transaction_commits_whole_or_rolls_back_whole(tmp_path):
    """DuckDBStore.transaction, the one write path of the modules under store/: its views are
    readable inside, a block that ends commits, a block that raises (Python or SQL) leaves nothing
    and releases the write lock."""
    import duckdb
    import numpy as np

    store = DuckDBStore(tmp_path)

    def count():
        return store.connection.cursor().execute("SELECT count(*) FROM quarantine").fetchone()[0]

    rows = {"reason": np.array(["a", "b"], dtype=object)}
    with store.transaction(batch_reasons=rows) as cur:
        cur.execute("INSERT INTO quarantine (received_at, reason) SELECT now(), reason FROM batch_reasons")
        assert cur.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 2  # its own writes, before COMMIT
    assert count() == 2
    for failure in (lambda cur: 1 / 0, lambda cur: cur.execute("INSERT INTO quarantine (reason) VALUES (NULL)")):
        with pytest.raises((ZeroDivisionError, duckdb.ConstraintException)):
            with store.transaction() as cur:
                cur.execute("INSERT INTO quarantine (received_at, reason) VALUES (now(), 'c')")
                failure(cur)
        assert count() == 2
        assert not store.write_lock.locked()
    with store.transaction() as cur:
        cur.execute("DELETE FROM quarantine")
    assert count() == 0
