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
