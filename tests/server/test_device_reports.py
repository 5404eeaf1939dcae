"""The server records the downlink config a device acknowledged (status "config_rev") past its will."""
import json
from datetime import datetime, timezone

from datacityzen.ingest.pipeline import Ingestor, Message
from datacityzen.store import device_reports
from datacityzen.store.duckdb_store import DuckDBStore

TOPIC = "dcz/v1/dcz-3f2a9c/status"


def status(**fields):
    return json.dumps({"version": 1, "device": "dcz-3f2a9c", **fields}).encode()


def test_config_rev_and_spool_counters_survive_the_offline_will(tmp_path):
    store = DuckDBStore(tmp_path)
    ingest = Ingestor(store)
    at = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
    ingest.handle([Message(TOPIC, status(state="online", config_rev=7, spool_pending=3, spool_dropped=2), at)])
    ingest.handle([Message(TOPIC, status(state="offline"), at)])  # the broker's last will
    report = device_reports.get(store, "dcz-3f2a9c")
    assert (report["config_rev"], report["spool_pending"], report["spool_dropped"]) == (7, 3, 2)
    ingest.handle([Message(TOPIC, status(state="online", spool_pending=0, spool_dropped=2), at)])
    assert device_reports.get(store, "dcz-3f2a9c")["config_rev"] == 7  # not forgotten by a status without it
    rejected = {"rev": 8, "error": "sampling.interval_s must be 1..86400"}
    ingest.handle([Message(TOPIC, status(state="online", config_rev=7, config_rejected=rejected), at)])
    report = device_reports.get(store, "dcz-3f2a9c")
    assert report["config_rev"] == 7 and report["config_rejected"] == rejected
    assert device_reports.get(store, "nobody") is None
    store.close()


def test_odd_counter_types_are_not_stored_as_numbers(tmp_path):
    store = DuckDBStore(tmp_path)
    at = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
    Ingestor(store).handle([Message(TOPIC, status(state="online", config_rev="7", spool_dropped=True), at)])
    report = device_reports.get(store, "dcz-3f2a9c")
    assert report["config_rev"] is None and report["spool_dropped"] is None
    store.close()
