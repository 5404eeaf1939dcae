"""Fits from co-location with a reference instrument, and their time-split cross-validation.

`linear`: reference ≈ a + b·x. `mlr` (multilinear): reference ≈ a + b·x + c·RH + d·T, as in the
multilinear PM corrections of Mathieu-Campbell et al. 2024 (Atmos. Meas. Tech. 17, 6735). Both are
ordinary least squares (numpy.linalg.lstsq). Cross-validation splits the rows, sorted by time, into
`folds` contiguous blocks; each block is predicted by a model fitted on the other blocks, so a model is
never judged on hours it was fitted on, nor on hours interleaved with them (neighbouring hours are
strongly correlated: a random split would flatter the model).
"""
from __future__ import annotations

import numpy as np

from .metrics import compare

# Which inputs each fitted model uses, in coefficient order after the intercept.
FIT_INPUTS = {"linear": ("x",), "mlr": ("x", "rh", "temperature")}


class FitError(ValueError):
    pass


def design(inputs: dict[str, np.ndarray], names) -> np.ndarray:
    cols = [np.ones_like(np.asarray(inputs["x"], dtype=np.float64))]
    cols += [np.asarray(inputs[n], dtype=np.float64) for n in names]
    return np.column_stack(cols)


def fit_coefficients(kind: str, inputs: dict[str, np.ndarray], reference) -> dict:
    """OLS coefficients {"intercept": a, "coefficients": {input: b, ...}} over finite rows."""
    if kind not in FIT_INPUTS:
        raise FitError(f"unknown fitted model {kind!r}; choose one of {', '.join(FIT_INPUTS)}")
    names = FIT_INPUTS[kind]
    missing = [n for n in names if inputs.get(n) is None]
    if missing:
        raise FitError(f"model {kind} needs the input(s) {', '.join(missing)}")
    X = design(inputs, names)
    y = np.asarray(reference, dtype=np.float64)
    ok = np.isfinite(X).all(axis=1) & np.isfinite(y)
    if ok.sum() < len(names) + 2:
        raise FitError(f"model {kind} needs at least {len(names) + 2} complete rows, got {int(ok.sum())}")
    beta, *_ = np.linalg.lstsq(X[ok], y[ok], rcond=None)
    return {"intercept": float(beta[0]), "coefficients": {n: float(b) for n, b in zip(names, beta[1:])}}


def predict(params: dict, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """a + Σ b_i·input_i, in a fixed order (intercept, then the coefficients as stored)."""
    out = np.full(np.shape(inputs["x"]), params["intercept"], dtype=np.float64)
    for name, b in params["coefficients"].items():
        v = inputs.get(name)
        if v is None:
            raise FitError(f"the model needs input {name!r}")
        out = out + b * np.asarray(v, dtype=np.float64)
    return out


def time_folds(times, folds: int) -> list[np.ndarray]:
    """Index arrays of `folds` contiguous blocks of the rows in time order."""
    order = np.argsort(np.asarray(times), kind="stable")
    return [block for block in np.array_split(order, folds) if block.size]


def cross_validate(kind: str, times, inputs: dict[str, np.ndarray], reference, folds: int = 5) -> dict:
    """Out-of-fold predictions and the metrics of raw and corrected values side by side.

    Rows where the reference or a needed input is missing are left out of both columns, so raw and
    corrected are judged on exactly the same hours.
    """
    if folds < 2:
        raise FitError("cross-validation needs at least 2 folds")
    names = FIT_INPUTS.get(kind)
    if names is None:
        raise FitError(f"unknown fitted model {kind!r}; choose one of {', '.join(FIT_INPUTS)}")
    y = np.asarray(reference, dtype=np.float64)
    ok = np.isfinite(y)
    for n in names:
        if inputs.get(n) is None:
            raise FitError(f"model {kind} needs the input(s) {n}")
        ok &= np.isfinite(np.asarray(inputs[n], dtype=np.float64))
    idx = np.flatnonzero(ok)
    t = np.asarray(times)[idx]
    sub = {n: np.asarray(inputs[n], dtype=np.float64)[idx] for n in names}
    ys = y[idx]
    if idx.size < folds * (len(names) + 2):
        raise FitError(f"{idx.size} complete rows are too few for {folds}-fold cross-validation")
    predicted = np.full(idx.size, np.nan)
    for block in time_folds(t, folds):
        train = np.ones(idx.size, dtype=bool)
        train[block] = False
        params = fit_coefficients(kind, {n: v[train] for n, v in sub.items()}, ys[train])
        predicted[block] = predict(params, {n: v[block] for n, v in sub.items()})
    return {
        "folds": folds,
        "raw": compare(sub["x"], ys),
        "corrected": compare(predicted, ys),
        "predicted": predicted,
        "rows": idx,
    }
