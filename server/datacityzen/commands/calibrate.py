"""`datacityzen calibrate`: fit a model from co-location, apply one to a CSV, assign one to a device."""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

import numpy as np

from ..calibration import BUILTIN, ModelError, from_dict
from ..calibration.fit import FIT_INPUTS, FitError, cross_validate, fit_coefficients
from ..calibration.registry import fitted_model
from ..settings import default_data_dir
from . import tables

METRIC_KEYS = ("rmse", "r2", "bias", "slope", "n")


def add_parser(sub) -> None:
    cal = sub.add_parser("calibrate", help="fit, apply and assign calibration models (calibrated layer)")
    csub = cal.add_subparsers(dest="calibrate_command", required=True, metavar="ACTION")

    fit = csub.add_parser("fit", help="fit a model from co-location with a reference; print cross-validated metrics")
    fit.add_argument("--colocation", type=Path, required=True, help="CSV of sensor and reference side by side")
    fit.add_argument("--time", required=True, help="time column (ISO 8601)")
    fit.add_argument("--sensor", required=True, help="column of the sensor's raw value")
    fit.add_argument("--reference", required=True, help="column of the reference instrument")
    fit.add_argument("--rh", help="column of the sensor's relative humidity (%%), needed by mlr")
    fit.add_argument("--temperature", help="column of the sensor's temperature (°C), needed by mlr")
    fit.add_argument("--model", choices=tuple(FIT_INPUTS), default="linear", help="linear or mlr (default linear)")
    fit.add_argument("--folds", type=int, default=5, help="time-split cross-validation folds (default 5)")
    fit.add_argument("--quantity", default="pm2_5", help="quantity the model corrects (default pm2_5)")
    fit.add_argument("--output", type=Path, help="model file to write (default ./<sensor>-<model>-<version>.json)")
    fit.add_argument("--json", action="store_true", help="print one JSON object instead of a table")

    apply = csub.add_parser("apply", help="apply a model (file or built-in name) to a CSV")
    apply.add_argument("model", metavar="MODEL", help=f"model file, or a built-in: {', '.join(BUILTIN)}")
    apply.add_argument("--input", type=Path, required=True, help="CSV to read")
    apply.add_argument("--output", type=Path, required=True, help="CSV to write (input + pm2_5_corrected)")
    apply.add_argument("--pm", help="column of the raw PM value (default: the fit's, else pm2_5)")
    apply.add_argument("--rh", help="column of relative humidity (default: the fit's, else humidity)")
    apply.add_argument("--temperature", help="column of temperature (default: the fit's, else temperature)")

    assign = csub.add_parser("assign", help="assign a model to a device from a date; recompute its calibrated values")
    assign.add_argument("device", metavar="DEVICE", help="device id, or kit:<kit id> for a kit batch")
    assign.add_argument("model", metavar="MODEL", help=f"model file, or a built-in: {', '.join(BUILTIN)}")
    assign.add_argument("--from", dest="valid_from", required=True, help="start of validity, ISO 8601 (UTC if no offset)")
    assign.add_argument("--to", dest="valid_to", help="end of validity, exclusive (default: open-ended)")
    assign.add_argument("--quantity", help="quantity corrected (default: the model's)")
    assign.add_argument("--data", type=Path, default=default_data_dir(),
                        help="data directory (DCZ_DATA_DIR; default ./datacityzen-data)")

    refresh = csub.add_parser("refresh", help="recompute the calibrated layer now, window flags included")
    refresh.add_argument("--device", action="append", help="only this device (repeatable; default all)")
    refresh.add_argument("--from", dest="valid_from", help="start, ISO 8601 (default: the beginning)")
    refresh.add_argument("--to", dest="valid_to", help="end, exclusive (default: no end)")
    refresh.add_argument("--data", type=Path, default=default_data_dir(),
                         help="data directory (DCZ_DATA_DIR; default ./datacityzen-data)")

    lst = csub.add_parser("list", help="list the assigned calibrations")
    lst.add_argument("--data", type=Path, default=default_data_dir(),
                     help="data directory (DCZ_DATA_DIR; default ./datacityzen-data)")


def load_model(spec: str):
    if spec in BUILTIN:
        return BUILTIN[spec]
    path = Path(spec)
    if not path.is_file():
        raise ModelError(f"{spec!r} is neither a built-in model ({', '.join(BUILTIN)}) nor a model file "
                         f"/ ni un modèle intégré ni un fichier de modèle")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: not a JSON model file ({exc})") from None
    return from_dict(doc)


def _round(m: dict) -> dict:
    return {k: (round(m[k], 4) if isinstance(m.get(k), float) else m.get(k)) for k in METRIC_KEYS}


def cmd_fit(args) -> int:
    header, rows = tables.read_csv(args.colocation)
    tables.need_columns(args.colocation, header, args.time, args.sensor, args.reference, args.rh, args.temperature)
    t = tables.times(rows, args.time, args.colocation)
    inputs = {"x": tables.floats(rows, args.sensor, args.colocation),
              "rh": tables.floats(rows, args.rh, args.colocation) if args.rh else None,
              "temperature": tables.floats(rows, args.temperature, args.colocation) if args.temperature else None}
    ref = tables.floats(rows, args.reference, args.colocation)
    if args.model == "mlr" and (args.rh is None or args.temperature is None):
        raise FitError("--model mlr needs --rh and --temperature / le modèle mlr a besoin de --rh et --temperature")
    cv = cross_validate(args.model, t, inputs, ref, folds=args.folds)
    params = fit_coefficients(args.model, inputs, ref)
    ok = np.isfinite(ref) & np.isfinite(inputs["x"])
    meta = {
        "columns": {"x": args.sensor, "rh": args.rh, "temperature": args.temperature, "reference": args.reference},
        "fitted_on": {"file": args.colocation.name, "rows": int(ok.sum()),
                      "from": str(t[ok].min()) + "Z" if ok.any() else None,
                      "to": str(t[ok].max()) + "Z" if ok.any() else None},
        "cross_validation": {"folds": cv["folds"], "split": "contiguous time blocks",
                             "raw": _round(cv["raw"]), "corrected": _round(cv["corrected"])},
    }
    model = fitted_model(args.model, params, args.quantity, meta)
    out = args.output or Path(f"{args.sensor}-{args.model}-{model.version}.json")
    out.write_text(json.dumps(model.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps({"model": model.kind, "version": model.version, "file": str(out), "folds": cv["folds"],
                          "params": params, "raw": _round(cv["raw"]), "corrected": _round(cv["corrected"])}))
        return 0
    print(f"{model.kind} model {model.version} for {args.sensor} -> {out}")
    print(f"cross-validated over {cv['folds']} time blocks / validation croisée sur {cv['folds']} blocs de temps")
    print(f"{'':10}{'RMSE':>10}{'R²':>10}{'bias':>10}{'slope':>10}{'n':>8}")
    for label in ("raw", "corrected"):
        m = cv[label]
        cells = [m["rmse"], m["r2"], m["bias"], m["slope"]]
        print(f"{label:10}" + "".join(f"{c:10.3f}" if c is not None else f"{'-':>10}" for c in cells) + f"{m['n']:8d}")
    return 0


def cmd_apply(args) -> int:
    model = load_model(args.model)
    cols = model.meta.get("columns", {}) if model.meta else {}
    pm = args.pm or cols.get("x") or "pm2_5"
    rh = args.rh or cols.get("rh") or "humidity"
    temp = args.temperature or cols.get("temperature") or "temperature"
    header, rows = tables.read_csv(args.input)
    wanted = {"x": pm, "rh": rh, "temperature": temp}
    tables.need_columns(args.input, header, *(wanted[n] for n in model.inputs))
    arrays = {n: tables.floats(rows, wanted[n], args.input) for n in model.inputs}
    corrected = model.apply(arrays["x"], arrays.get("rh"), arrays.get("temperature"))
    out_col = "pm2_5_corrected"
    with open(args.output, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header + [out_col])
        for row, value in zip(rows, corrected):
            writer.writerow([row.get(h, "") for h in header] + ["" if math.isnan(value) else repr(float(value))])
    print(f"{model.kind} {model.version}: {int(np.isfinite(corrected).sum())} of {len(rows)} rows corrected "
          f"-> {args.output} (column {out_col})")
    return 0


def _open(data_dir):
    from ..store.calibrated import open_store

    return open_store(data_dir)


def cmd_assign(args) -> int:
    from ..store.calibrated import CalibratedLayer

    model = load_model(args.model)
    valid_from = tables.parse_time(args.valid_from)
    valid_to = tables.parse_time(args.valid_to) if args.valid_to else None
    store = _open(args.data)
    try:
        done = CalibratedLayer(store).assign(args.device, model, valid_from, valid_to, args.quantity)
    finally:
        store.close()
    print(f"{done['id']}: {args.device} {done['quantity']} <- {done['model']} {done['model_version']} "
          f"from {args.valid_from}{' to ' + args.valid_to if args.valid_to else ''}; "
          f"{done['rows']} calibrated values recomputed / valeurs recalculées")
    return 0


def cmd_refresh(args) -> int:
    from ..store.calibrated import CalibratedLayer

    start = tables.parse_time(args.valid_from) if args.valid_from else None
    end = tables.parse_time(args.valid_to) if args.valid_to else None
    store = _open(args.data)
    try:
        rows = CalibratedLayer(store).recompute(args.device, start, end)
    finally:
        store.close()
    print(f"{rows} calibrated values recomputed / valeurs recalculées")
    return 0


def cmd_list(args) -> int:
    from ..store.calibrated import CalibratedLayer

    store = _open(args.data)
    try:
        rows = CalibratedLayer(store).list_calibrations()
    finally:
        store.close()
    for r in rows:
        print(f"{r['id']}  {r['device']}  {r['quantity']}  {r['model']} {r['model_version']}  "
              f"{r['valid_from']} -> {r['valid_to'] or '…'}  (assigned {r['assigned_at']})")
    if not rows:
        print("no calibration assigned / aucun étalonnage attribué")
    return 0


ACTIONS = {"fit": cmd_fit, "apply": cmd_apply, "assign": cmd_assign, "refresh": cmd_refresh, "list": cmd_list}


def run(args: argparse.Namespace) -> int:
    from ..store.calibrated import StoreLocked

    try:
        return ACTIONS[args.calibrate_command](args)
    except (ValueError, StoreLocked, OSError) as exc:
        print(f"datacityzen calibrate {args.calibrate_command}: {exc}", file=sys.stderr)
        return 2
