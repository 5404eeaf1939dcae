"""`datacityzen calibrate` through a real subprocess: fit, apply, assign, and a store held by a server."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from datacityzen.store.calibrated import CalibratedLayer
from datacityzen.store.duckdb_store import DuckDBStore
from test_calibrated_layer import ingest, reading
from test_calibration import TOUCAN

REPO = Path(__file__).resolve().parents[2]


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "datacityzen.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=120,
                          env={"PYTHONPATH": str(REPO / "server"), "PATH": "/usr/bin:/bin"})


@pytest.fixture
def toucan():
    if not TOUCAN.is_file():
        pytest.skip(f"shared data set not found at {TOUCAN} (../shared/data)")
    return TOUCAN


def test_fit_prints_cross_validated_metrics_and_writes_a_model_that_apply_uses(tmp_path, toucan):
    res = cli("calibrate", "fit", "--colocation", toucan, "--time", "datetime_LST_hour_beginning",
              "--sensor", "RT02_pm25", "--reference", "ref_pm25_T640x_ugm3", "--rh", "RT02_rh",
              "--temperature", "RT02_temp", "--model", "mlr", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    for side in ("raw", "corrected"):
        assert set(out[side]) >= {"rmse", "r2", "bias", "n"}
    assert out["corrected"]["rmse"] < out["raw"]["rmse"] and out["raw"]["n"] == out["corrected"]["n"] == 708
    model_file = tmp_path / out["file"]
    doc = json.loads(model_file.read_text())
    assert doc["version"] == out["version"] and doc["model"] == "mlr"
    assert doc["meta"]["cross_validation"]["corrected"]["rmse"] == out["corrected"]["rmse"]

    res = cli("calibrate", "apply", model_file, "--input", toucan, "--output", tmp_path / "out.csv", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    with open(tmp_path / "out.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 708
    p = doc["params"]
    r = rows[0]
    expected = (p["intercept"] + p["coefficients"]["x"] * float(r["RT02_pm25"])
                + p["coefficients"]["rh"] * float(r["RT02_rh"]) + p["coefficients"]["temperature"] * float(r["RT02_temp"]))
    assert float(r["pm2_5_corrected"]) == pytest.approx(expected, rel=1e-12)


def test_apply_a_builtin_and_refuse_a_missing_column(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("time,pm,rh\n2026-01-01T00:00Z,20,50\n2026-01-01T01:00Z,,50\n")
    res = cli("calibrate", "apply", "epa-2021", "--input", src, "--output", tmp_path / "o.csv",
              "--pm", "pm", "--rh", "rh", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(open(tmp_path / "o.csv")))
    assert float(rows[0]["pm2_5_corrected"]) == pytest.approx(0.524 * 20 - 0.0862 * 50 + 5.75)
    assert rows[1]["pm2_5_corrected"] == ""
    res = cli("calibrate", "apply", "epa-2021", "--input", src, "--output", tmp_path / "o.csv",
              "--pm", "pm", cwd=tmp_path)
    assert res.returncode == 2 and "no column 'humidity'" in res.stderr


def test_assign_against_the_data_directory_and_refuse_when_a_server_holds_it(tmp_path):
    data = tmp_path / "data"
    store = DuckDBStore(data)
    ingest(store, "dev-a", [reading(s) for s in range(50)])
    store.close()
    res = cli("calibrate", "assign", "dev-a", "epa-2021", "--from", "2026-11-20T00:00:00Z", "--data", data, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "cal-0001" in res.stdout and "150 calibrated values" in res.stdout
    store = DuckDBStore(data)  # now this process holds the file, as a running server would
    try:
        rows = CalibratedLayer(store).read("dev-a", "pm2_5")
        assert {r[5] for r in rows} == {"epa-2021"}
        before = store._con.execute("SELECT * FROM calibrated_values ORDER BY seq, quantity").fetchall()
        res = cli("calibrate", "assign", "dev-a", "kappa-koehler", "--from", "2026-11-20", "--data", data, cwd=tmp_path)
        assert res.returncode == 2
        assert "in use by a running server" in res.stderr and "utilisée" in res.stderr
        assert store._con.execute("SELECT * FROM calibrated_values ORDER BY seq, quantity").fetchall() == before
    finally:
        store.close()


def test_fit_with_a_wrong_column_says_which(tmp_path, toucan):
    res = cli("calibrate", "fit", "--colocation", toucan, "--time", "datetime_LST_hour_beginning",
              "--sensor", "RT09_pm25", "--reference", "ref_pm25_T640x_ugm3", cwd=tmp_path)
    assert res.returncode == 2 and "no column 'RT09_pm25'" in res.stderr
    assert not list(tmp_path.glob("*.json"))
