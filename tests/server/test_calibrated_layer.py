"""The calibrated layer on a real DuckDB file: kept up to date at ingest, recomputed on assign,
reproducible bit for bit, raw values never touched."""
import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from datacityzen.calibration import BUILTIN, fitted_model
from datacityzen.calibration.registry import ModelError
from datacityzen.ingest.pipeline import Ingestor, Message
from datacityzen.store.calibrated import CalibratedLayer
from datacityzen.store.duckdb_store import DuckDBStore

T0 = datetime(2026, 11, 20, tzinfo=timezone.utc)
STEP = 145


def reading(seq, pm=None, rh=None, temperature=None, flags=None, errors=None):
    rng = np.random.default_rng(seq)
    values = {
        "pm2_5": round(12 + 5 * np.sin(seq / 40) + rng.normal(0, 0.7), 1) if pm is None else pm,
        "humidity": round(55 + 15 * np.sin(seq / 90) + rng.normal(0, 0.3), 1) if rh is None else rh,
        "temperature": round(11 + 3 * np.sin(seq / 70) + rng.normal(0, 0.05), 2) if temperature is None else temperature,
    }
    r = {"seq": seq, "time": int(T0.timestamp()) + STEP * seq, "values": values}
    if flags:
        r["flags"] = flags
    if errors:
        r["errors"] = errors
    return r


def message(device, readings):
    payload = {"version": 1, "device": device, "kit": "air-outdoor-v1", "firmware": "0.1.0", "readings": readings}
    return Message(f"dcz/v1/{device}/up", json.dumps(payload).encode(), T0 + timedelta(days=10))


def ingest(store, device, readings):
    # The wire format allows 100 readings per message; the ingestor takes a batch of messages.
    result = Ingestor(store).handle([message(device, readings[i:i + 100]) for i in range(0, len(readings), 100)])
    assert result.quarantined == 0


def raw_snapshot(store):
    return store._con.execute("SELECT * FROM raw_values ORDER BY device, seq, quantity").fetchall()


def calibrated(store, device="dev-a", quantity="pm2_5"):
    return CalibratedLayer(store).read(device, quantity)


@pytest.fixture
def store(tmp_path):
    s = DuckDBStore(tmp_path)
    yield s
    s.close()


def test_ingest_fills_the_calibrated_layer_with_identity(store):
    ingest(store, "dev-a", [reading(s) for s in range(20)])
    rows = calibrated(store)
    raw = store._con.execute("SELECT seq, value FROM raw_values WHERE quantity='pm2_5' ORDER BY seq").fetchall()
    assert [(r[0], r[3]) for r in rows] == raw
    assert {(r[5], r[6], r[7]) for r in rows} == {("none", "1", "none")}
    total = store._con.execute("SELECT count(*) FROM calibrated_values").fetchone()[0]
    assert total == 60  # one row per raw value


def test_redelivery_does_not_duplicate_calibrated_rows(store):
    ingest(store, "dev-a", [reading(s) for s in range(10)])
    ingest(store, "dev-a", [reading(s) for s in range(5, 15)])
    counts = store._con.execute(
        "SELECT count(*), count(DISTINCT (device, seq, quantity)) FROM calibrated_values").fetchone()
    assert counts == (45, 45)


def test_assign_recomputes_from_raw_with_the_readings_own_humidity(store):
    readings = [reading(s) for s in range(200)]
    ingest(store, "dev-a", readings)
    before = raw_snapshot(store)
    valid_from = T0 + timedelta(seconds=STEP * 50)
    done = CalibratedLayer(store).assign("dev-a", BUILTIN["epa-2021"], valid_from)
    assert done["id"] == "cal-0001" and done["model_version"] == "2021.1"
    rows = {r[0]: r for r in calibrated(store)}
    for r in readings:
        seq = r["seq"]
        if seq < 50:
            assert rows[seq][3] == r["values"]["pm2_5"] and rows[seq][5] == "none"
        else:
            expected = 0.524 * r["values"]["pm2_5"] - 0.0862 * r["values"]["humidity"] + 5.75
            assert rows[seq][3] == pytest.approx(expected, abs=1e-12)
            assert rows[seq][5:] == ("epa-2021", "2021.1", "cal-0001")
    # humidity itself is not corrected by a pm2_5 calibration
    assert {r[5] for r in calibrated(store, quantity="humidity")} == {"none"}
    assert raw_snapshot(store) == before


def test_reassigning_a_calibration_reproduces_identical_values(store):
    ingest(store, "dev-a", [reading(s) for s in range(300)])
    layer = CalibratedLayer(store)
    fitted = fitted_model("mlr", {"intercept": 1.5, "coefficients": {"x": 0.61, "rh": -0.031, "temperature": 0.07}})
    layer.assign("dev-a", fitted, T0)
    first = store._con.execute("SELECT * EXCLUDE (calibration) FROM calibrated_values ORDER BY device, seq, quantity").fetchall()
    layer.assign("dev-a", BUILTIN["kappa-koehler"], T0)
    other = store._con.execute("SELECT * EXCLUDE (calibration) FROM calibrated_values ORDER BY device, seq, quantity").fetchall()
    assert other != first
    layer.assign("dev-a", fitted, T0)
    again = store._con.execute("SELECT * EXCLUDE (calibration) FROM calibrated_values ORDER BY device, seq, quantity").fetchall()
    assert again == first  # Python floats from DOUBLE: equality is bit-for-bit
    assert [c["id"] for c in layer.list_calibrations()] == ["cal-0001", "cal-0002", "cal-0003"]


def test_validity_period_end_is_respected_and_kit_batches_yield_to_device_calibrations(store):
    ingest(store, "dev-a", [reading(s) for s in range(100)])
    ingest(store, "dev-b", [reading(s) for s in range(100)])
    layer = CalibratedLayer(store)
    layer.assign("kit:air-outdoor-v1", BUILTIN["kappa-koehler"], T0)
    layer.assign("dev-a", BUILTIN["epa-2021"], T0, T0 + timedelta(seconds=STEP * 40))
    a = {r[0]: r[5] for r in calibrated(store, "dev-a")}
    b = {r[0]: r[5] for r in calibrated(store, "dev-b")}
    assert {a[s] for s in range(40)} == {"epa-2021"}
    assert {a[s] for s in range(40, 100)} == {"kappa-koehler"}
    assert set(b.values()) == {"kappa-koehler"}


def test_assign_refuses_a_model_for_another_quantity_and_an_empty_period(store):
    layer = CalibratedLayer(store)
    with pytest.raises(ModelError, match="say which one"):
        layer.assign("dev-a", BUILTIN["none"], T0)
    with pytest.raises(ModelError, match="not temperature"):
        layer.assign("dev-a", BUILTIN["epa-2021"], T0, quantity="temperature")
    with pytest.raises(ModelError, match="after its start"):
        layer.assign("dev-a", BUILTIN["epa-2021"], T0, T0)


def test_flags_at_ingest_exclude_or_mark(store):
    ingest(store, "dev-a", [
        reading(0, flags={"pm2_5": ["warmup"]}),
        reading(1, pm=1200.0),  # above the SDS011's 999.9
        reading(2, rh=88.0),  # fog: marked, kept
        reading(3, errors=[{"sensor": "sds011", "error": "checksum"}]),
        reading(4),
    ])
    rows = {r[0]: (r[3], r[4]) for r in calibrated(store)}
    assert rows[0] == (None, "warmup")
    assert rows[1] == (None, "out_of_range")
    assert rows[2][0] is not None and rows[2][1] == "fog"
    assert rows[3][0] is not None and rows[3][1] == "sensor_error"
    assert rows[4][1] == ""
    # the BME280 values of reading 3 are not touched by the SDS011's error
    assert {r[0]: r[4] for r in calibrated(store, quantity="humidity")}[3] == ""
    assert store._con.execute("SELECT value FROM raw_values WHERE seq = 1 AND quantity = 'pm2_5'").fetchone()[0] == 1200.0


def test_missing_humidity_leaves_the_corrected_value_empty(store):
    r = reading(5)
    del r["values"]["humidity"]
    ingest(store, "dev-a", [reading(s) for s in range(5)] + [r])
    CalibratedLayer(store).assign("dev-a", BUILTIN["epa-2021"], T0)
    rows = {x[0]: x for x in calibrated(store)}
    assert rows[5][3] is None and "no_calibration_input" in rows[5][4]
    assert rows[4][3] is not None


def test_window_flags_come_with_recompute_and_refresh(store):
    readings = [reading(s) for s in range(400)]
    for s in range(100, 140):
        readings[s]["values"]["pm2_5"] = 21.7  # frozen for 97 minutes
    readings[300]["values"]["pm2_5"] = 260.0  # isolated spike
    del readings[200:230]  # 72 minutes of silence
    ingest(store, "dev-a", readings)
    assert not any("stuck" in r[4] for r in calibrated(store))  # ingest: point flags only
    layer = CalibratedLayer(store)
    layer.refresh(lookback=timedelta(days=2), now=T0 + timedelta(days=1))
    rows = {r[0]: r for r in calibrated(store)}
    assert all("stuck" in rows[s][4] and rows[s][3] is None for s in range(100, 140))
    assert "spike" in rows[300][4] and rows[300][3] is None
    assert "after_silence" in rows[230][4] and "warmup" in rows[230][4]
    flagged = {s for s, r in rows.items() if r[4]}
    assert flagged == set(range(100, 140)) | {300, 230}
    # humidity and temperature vary: no flag at all
    assert {r[4] for r in calibrated(store, quantity="humidity")} == {"", "after_silence"}  # BME280: no warm-up


def test_drift_against_neighbours_is_marked(store):
    devices = ["dev-a", "dev-b", "dev-c", "dev-d"]
    sites = [(44.8378, -0.5792), (44.84, -0.57), (44.83, -0.59), (44.845, -0.565)]
    n = 4 * 24 * 3600 // STEP  # four days
    for i, d in enumerate(devices):
        rs = [reading(s) for s in range(n)]
        if d == "dev-c":
            for r in rs[n // 4:]:
                r["values"]["pm2_5"] = round(r["values"]["pm2_5"] + 15, 1)
        ingest(store, d, rs)
        store._con.execute("INSERT INTO device_sites (device, lat, lon, public_lat, public_lon) VALUES (?, ?, ?, ?, ?)",
                           [d, sites[i][0] + 1e-4, sites[i][1] + 1e-4, *sites[i]])
    CalibratedLayer(store).recompute()
    drifting = store._con.execute(
        "SELECT device, count(*) FROM calibrated_values WHERE quantity = 'pm2_5' AND flags LIKE '%drift%' "
        "GROUP BY device").fetchall()
    assert dict(drifting).keys() == {"dev-c"}
    assert dict(drifting)["dev-c"] > 1000


def test_calibrations_survive_reopening_the_file(tmp_path):
    s = DuckDBStore(tmp_path)
    ingest(s, "dev-a", [reading(q) for q in range(30)])
    CalibratedLayer(s).assign("dev-a", BUILTIN["epa-2021"], T0)
    before = calibrated(s)
    s.close()
    s2 = DuckDBStore(tmp_path)
    try:
        CalibratedLayer(s2).recompute(["dev-a"])
        assert calibrated(s2) == before
    finally:
        s2.close()
