"""Calibration models: published corrections against their check values, fits and their cross-validation."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datacityzen.calibration import BUILTIN, ModelError, fitted_model, from_dict
from datacityzen.calibration import fit, metrics, published

# ../shared/data beside the repository (worktrees live one level deeper, hence /work/shared as well).
_CANDIDATES = [Path(__file__).resolve().parents[3] / "shared" / "data", Path("/work/shared/data")]
SHARED = next((p for p in _CANDIDATES if p.is_dir()), _CANDIDATES[0])
TOUCAN = SHARED / "sensortoolkit_toucan_vs_T640x_hourly_2019.csv"
finite = dict(allow_nan=False, allow_infinity=False)


# -- published check values --------------------------------------------------------------------------
def test_epa_2021_gives_300_at_570_and_50_percent_rh():
    # Barkjohn et al. 2022 (Sensors 22, 9669) put the end of the 2021 equation's range at a raw 570
    # µg/m³ because there it gives 300 µg/m³ at 50 % RH.
    assert published.epa_2021(570.0, 50.0) == pytest.approx(300.0, abs=0.5)
    assert published.epa_2021(570.0, 50.0) == pytest.approx(0.524 * 570 - 0.0862 * 50 + 5.75, abs=1e-12)


def test_epa_2021_coefficients_are_the_published_ones():
    # Barkjohn et al. 2021 (AMT 14, 4617): PM2.5 = 0.524 x - 0.0862 RH + 5.75
    assert published.epa_2021(0.0, 0.0) == pytest.approx(5.75)
    assert published.epa_2021(1.0, 0.0) - published.epa_2021(0.0, 0.0) == pytest.approx(0.524)
    assert published.epa_2021(0.0, 1.0) - published.epa_2021(0.0, 0.0) == pytest.approx(-0.0862)


def test_smoke_extension_matches_2021_below_570_and_the_quadratic_from_611():
    x = np.array([0.0, 10.0, 300.0, 569.9])
    rh = np.array([20.0, 50.0, 80.0, 50.0])
    assert np.array_equal(published.epa_2022_smoke(x, rh), published.epa_2021(x, rh))
    for value in (611.0, 800.0, 1500.0):
        expected = 0.46 * value + 3.93e-4 * value**2 + 2.97
        for h in (10.0, 90.0):  # no humidity term in the smoke range
            assert published.epa_2022_smoke(value, h) == pytest.approx(expected, rel=1e-12)


def test_smoke_blend_weight_is_the_published_line():
    # w = 0.0244 x - 13.9: 0.008 at 570, 1.0084 at 611 (Barkjohn et al. 2022)
    assert 0.0244 * 570 - 13.9 == pytest.approx(0.008)
    x = 590.0
    w = 0.0244 * x - 13.9
    expected = w * (0.46 * x + 3.93e-4 * x * x + 2.97) + (1 - w) * (0.524 * x - 0.0862 * 50 + 5.75)
    assert published.epa_2022_smoke(x, 50.0) == pytest.approx(expected, rel=1e-12)


def test_smoke_extension_has_no_large_jump_at_its_breakpoints():
    for edge in (570.0, 611.0):
        below = published.epa_2022_smoke(edge - 1e-9, 50.0)
        at = published.epa_2022_smoke(edge, 50.0)
        assert abs(at - below) < 1.5  # the published weight is within 0.01 of 0 and 1 at the edges


def test_kappa_koehler_check_values():
    # Crilley et al. 2018 with κ/1.65 = 0.24 (Nilson et al. 2022): C = 1 + 0.24/(100/RH - 1)
    assert published.koehler_growth_factor(50.0) == pytest.approx(1.24)
    assert published.kappa_koehler(12.4, 50.0) == pytest.approx(10.0)
    assert published.koehler_growth_factor(70.0) == pytest.approx(1.56)
    assert published.koehler_growth_factor(30.0) == pytest.approx(1 + 0.24 * 0.3 / 0.7)
    # RH is clamped to 30-70 %
    assert published.koehler_growth_factor(95.0) == published.koehler_growth_factor(70.0)
    assert published.koehler_growth_factor(5.0) == published.koehler_growth_factor(30.0)


@given(x=st.floats(0, 5000, **finite), rh=st.floats(0, 100, **finite), d=st.floats(0.1, 100, **finite))
def test_epa_2021_is_linear_in_x(x, rh, d):
    assert published.epa_2021(x + d, rh) - published.epa_2021(x, rh) == pytest.approx(0.524 * d, rel=1e-6, abs=1e-9)


@given(x=st.floats(0, 5000, **finite), rh1=st.floats(0, 100, **finite), rh2=st.floats(0, 100, **finite))
def test_kappa_koehler_dries_more_at_higher_humidity(x, rh1, rh2):
    lo, hi = sorted((rh1, rh2))
    dry_lo, dry_hi = published.kappa_koehler(x, lo), published.kappa_koehler(x, hi)
    assert dry_hi <= dry_lo + 1e-12
    assert dry_lo <= x


@given(x=st.floats(0, 3000, **finite))
def test_smoke_extension_is_finite_and_increasing_in_the_smoke_range(x):
    a, b = published.epa_2022_smoke(x + 611, 50.0), published.epa_2022_smoke(x + 612, 50.0)
    assert np.isfinite(a) and b > a


# -- fitting ----------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(a=st.floats(-10, 10, **finite), b=st.floats(0.2, 3, **finite), c=st.floats(-0.5, 0.5, **finite),
       d=st.floats(-0.5, 0.5, **finite), seed=st.integers(0, 2**16))
def test_mlr_recovers_known_coefficients(a, b, c, d, seed):
    rng = np.random.default_rng(seed)
    x, rh, t = rng.uniform(1, 80, 200), rng.uniform(20, 95, 200), rng.uniform(-5, 35, 200)
    ref = a + b * x + c * rh + d * t
    params = fit.fit_coefficients("mlr", {"x": x, "rh": rh, "temperature": t}, ref)
    assert params["intercept"] == pytest.approx(a, abs=1e-6)
    assert params["coefficients"]["x"] == pytest.approx(b, abs=1e-8)
    assert params["coefficients"]["rh"] == pytest.approx(c, abs=1e-8)
    assert params["coefficients"]["temperature"] == pytest.approx(d, abs=1e-8)
    predicted = fit.predict(params, {"x": x, "rh": rh, "temperature": t})
    assert np.allclose(predicted, ref, atol=1e-6)


def test_cross_validation_of_a_noiseless_line_is_perfect_and_raw_keeps_its_error():
    t = np.arange(100).astype("datetime64[h]")
    x = np.linspace(1, 50, 100) + np.sin(np.arange(100))
    ref = 2.0 + 0.5 * x
    cv = fit.cross_validate("linear", t, {"x": x}, ref, folds=4)
    assert cv["corrected"]["rmse"] < 1e-9 and cv["corrected"]["n"] == 100
    assert cv["raw"]["rmse"] > 1 and cv["raw"]["bias"] == pytest.approx(np.mean(x - ref))


def test_time_folds_are_contiguous_blocks_in_time_order():
    t = np.array([5, 1, 4, 2, 3, 0]).astype("datetime64[h]")
    blocks = fit.time_folds(t, 3)
    assert [sorted(t[b].astype(int).tolist()) for b in blocks] == [[0, 1], [2, 3], [4, 5]]


def test_rows_missing_an_input_are_left_out_of_both_columns():
    t = np.arange(40).astype("datetime64[h]")
    x = np.linspace(1, 40, 40)
    rh = np.full(40, 50.0)
    rh[3] = np.nan
    cv = fit.cross_validate("mlr", t, {"x": x, "rh": rh, "temperature": x % 7}, x * 0.5 + 1, folds=4)
    assert cv["raw"]["n"] == cv["corrected"]["n"] == 39


def test_fit_refuses_too_few_rows_and_missing_inputs():
    with pytest.raises(fit.FitError, match="needs"):
        fit.fit_coefficients("mlr", {"x": np.arange(10.0)}, np.arange(10.0))
    with pytest.raises(fit.FitError, match="at least"):
        fit.fit_coefficients("linear", {"x": np.array([1.0, 2.0])}, np.array([1.0, 2.0]))


def test_metrics_of_a_perfect_and_an_offset_measurement():
    ref = np.array([1.0, 4.0, 9.0, 16.0])
    perfect = metrics.compare(ref, ref)
    assert perfect["rmse"] == 0 and perfect["r2"] == pytest.approx(1) and perfect["slope"] == pytest.approx(1)
    off = metrics.compare(ref + 2, ref)
    assert off["bias"] == pytest.approx(2) and off["rmse"] == pytest.approx(2) and off["n"] == 4


# -- the registry -----------------------------------------------------------------------------------
def test_fitted_model_version_is_a_content_hash():
    p = {"intercept": 1.0, "coefficients": {"x": 0.5}}
    a, b = fitted_model("linear", p), fitted_model("linear", dict(p))
    c = fitted_model("linear", {"intercept": 1.0, "coefficients": {"x": 0.51}})
    assert a.version == b.version != c.version
    again = from_dict(json.loads(json.dumps(a.to_dict())))
    assert again == a
    assert np.array_equal(again.apply(np.array([2.0])), np.array([2.0]))


def test_an_edited_model_file_is_refused():
    doc = fitted_model("linear", {"intercept": 1.0, "coefficients": {"x": 0.5}}).to_dict()
    doc["params"]["intercept"] = 3.0
    with pytest.raises(ModelError, match="edited"):
        from_dict(doc)


def test_builtin_models_apply_the_published_functions():
    x, rh = np.array([10.0, 700.0]), np.array([60.0, 40.0])
    assert np.array_equal(BUILTIN["epa-2021"].apply(x, rh), published.epa_2021(x, rh))
    assert np.array_equal(BUILTIN["epa-2022-smoke"].apply(x, rh), published.epa_2022_smoke(x, rh))
    assert np.array_equal(BUILTIN["kappa-koehler"].apply(x, rh), published.kappa_koehler(x, rh))
    assert np.array_equal(BUILTIN["none"].apply(x), x)
    with pytest.raises(ModelError, match="needs rh"):
        BUILTIN["epa-2021"].apply(x)


# -- the shared co-location data set ----------------------------------------------------------------
def _toucan():
    if not TOUCAN.is_file():
        pytest.skip(f"shared data set not found at {TOUCAN} (../shared/data)")
    with open(TOUCAN, newline="") as f:
        rows = list(csv.DictReader(f))
    col = lambda c: np.array([float(r[c]) if r[c] else np.nan for r in rows])  # noqa: E731
    t = np.array([r["datetime_LST_hour_beginning"].replace(" ", "T") for r in rows], dtype="datetime64[m]")
    return t, col


@pytest.mark.parametrize("sensor", ["RT01", "RT02", "RT03"])
@pytest.mark.parametrize("kind", ["linear", "mlr"])
def test_fit_on_the_shared_dataset_reduces_cross_validated_rmse(sensor, kind):
    t, col = _toucan()
    inputs = {"x": col(f"{sensor}_pm25"), "rh": col(f"{sensor}_rh"), "temperature": col(f"{sensor}_temp")}
    cv = fit.cross_validate(kind, t, inputs, col("ref_pm25_T640x_ugm3"), folds=5)
    assert cv["raw"]["n"] == cv["corrected"]["n"] > 700
    assert cv["corrected"]["rmse"] < 0.6 * cv["raw"]["rmse"]
    assert abs(cv["corrected"]["bias"]) < 0.2 < abs(cv["raw"]["bias"])
