"""Evaluate the co-location fits on the shared sensortoolkit data set; draw docs/img/calibration_*.png.

Run: PYTHONPATH=server python docs/plots/calibration_plots.py [path/to/sensortoolkit_toucan_vs_T640x_hourly_2019.csv]
Prints the Markdown metrics table of docs/calibration.md (cross-validated, 5 contiguous time blocks).
Needs matplotlib (pip install '.[docs]').
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from datacityzen.calibration import BUILTIN  # noqa: E402
from datacityzen.calibration.fit import cross_validate  # noqa: E402
from datacityzen.calibration.metrics import compare  # noqa: E402
from datacityzen.quality.point import FOG_RH_THRESHOLD  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
IMG = REPO / "docs" / "img"
DEFAULT = next((p for p in (REPO.parent / "shared" / "data", Path("/work/shared/data")) if p.is_dir()),
               REPO.parent / "shared" / "data") / "sensortoolkit_toucan_vs_T640x_hourly_2019.csv"
SENSORS = ("RT01", "RT02", "RT03")


def load(path: Path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    col = lambda c: np.array([float(r[c]) if r[c] else np.nan for r in rows])  # noqa: E731
    t = np.array([r["datetime_LST_hour_beginning"].replace(" ", "T") for r in rows], dtype="datetime64[m]")
    return t, col


def fmt(m):
    return f"{m['rmse']:.2f} | {m['r2']:.2f} | {m['bias']:+.2f} | {m['slope']:.2f}"


def main(path: Path) -> None:
    t, col = load(path)
    ref = col("ref_pm25_T640x_ugm3")
    IMG.mkdir(parents=True, exist_ok=True)
    print("| sensor | model | n | raw RMSE | raw R² | raw bias | raw slope | corrected RMSE | corrected R² | "
          "corrected bias | corrected slope |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    results = {}
    for s in SENSORS:
        inputs = {"x": col(f"{s}_pm25"), "rh": col(f"{s}_rh"), "temperature": col(f"{s}_temp")}
        for kind in ("linear", "mlr"):
            cv = cross_validate(kind, t, inputs, ref, folds=5)
            results[(s, kind)] = (cv, inputs)
            print(f"| {s} | {kind} | {cv['raw']['n']} | {fmt(cv['raw'])} | {fmt(cv['corrected'])} |")
        epa = BUILTIN["epa-2021"].apply(inputs["x"], inputs["rh"])
        raw_m, epa_m = compare(inputs["x"], ref), compare(epa, ref)
        print(f"| {s} | epa-2021 (not fitted) | {epa_m['n']} | {fmt(raw_m)} | {fmt(epa_m)} |")

    print("\nHumid hours (sensor RH above the fog threshold) vs the rest, mlr, cross-validated RMSE:")
    print("| sensor | hours RH > 75 % | RMSE there | hours RH ≤ 75 % | RMSE there | mean residual there (> 75 %) |")
    print("|---|---|---|---|---|---|")
    for s in SENSORS:
        cv, inputs = results[(s, "mlr")]
        rows, pred = cv["rows"], cv["predicted"]
        rh = inputs["rh"][rows]
        y = ref[rows]
        humid = rh > FOG_RH_THRESHOLD
        rm = lambda m: float(np.sqrt(np.mean((pred[m] - y[m]) ** 2)))  # noqa: E731
        print(f"| {s} | {int(humid.sum())} | {rm(humid):.2f} | {int((~humid).sum())} | {rm(~humid):.2f} | "
              f"{float(np.mean(pred[humid] - y[humid])):+.2f} |")

    # Figure 1: raw and corrected (mlr, out-of-fold) against the reference, one panel per sensor.
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.4), sharex=True, sharey=True)
    for ax, s in zip(axes, SENSORS):
        cv, inputs = results[(s, "mlr")]
        rows = cv["rows"]
        ax.scatter(ref[rows], inputs["x"][rows], s=6, alpha=0.45, label="raw / brut")
        ax.scatter(ref[rows], cv["predicted"], s=6, alpha=0.45, label="mlr (cross-validated)")
        lim = [0, 22]
        ax.plot(lim, lim, "k--", lw=0.8)
        ax.set_xlim(lim)
        ax.set_ylim(lim)
        ax.set_title(f"{s}: RMSE {cv['raw']['rmse']:.2f} → {cv['corrected']['rmse']:.2f} µg/m³")
        ax.set_xlabel("T640x reference PM2.5 (µg/m³)")
    axes[0].set_ylabel("sensor PM2.5 (µg/m³)")
    axes[0].legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(IMG / "calibration_scatter.png", dpi=90)
    plt.close(fig)

    # Figure 2: residual of the corrected values against the sensor's RH (where the model fails).
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for s in SENSORS:
        cv, inputs = results[(s, "mlr")]
        rows = cv["rows"]
        ax.scatter(inputs["rh"][rows], cv["predicted"] - ref[rows], s=6, alpha=0.4, label=s)
    ax.axhline(0, color="k", lw=0.8)
    ax.axvline(FOG_RH_THRESHOLD, color="grey", ls=":", lw=1)
    ax.text(FOG_RH_THRESHOLD + 0.5, ax.get_ylim()[1] * 0.9, "fog flag 75 %", color="grey")
    ax.set_xlabel("sensor relative humidity (%)")
    ax.set_ylabel("corrected − reference (µg/m³)")
    ax.set_title("mlr residuals (cross-validated) vs humidity")
    ax.legend()
    fig.tight_layout()
    fig.savefig(IMG / "calibration_residual_rh.png", dpi=90)
    plt.close(fig)

    # Figure 3: a week of the time series, RT01.
    cv, inputs = results[("RT01", "mlr")]
    rows = cv["rows"]
    week = t[rows] < t[rows][0] + np.timedelta64(7, "D")
    fig, ax = plt.subplots(figsize=(11, 3.8))
    ax.plot(t[rows][week], ref[rows][week], "k", lw=1.2, label="T640x reference")
    ax.plot(t[rows][week], inputs["x"][rows][week], lw=0.9, label="RT01 raw / brut")
    ax.plot(t[rows][week], cv["predicted"][week], lw=0.9, label="RT01 mlr (cross-validated)")
    ax.set_ylabel("PM2.5 (µg/m³)")
    ax.legend(ncol=3, loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(IMG / "calibration_week.png", dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
