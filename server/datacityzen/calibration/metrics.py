"""Agreement between a measurement and a reference: RMSE, R², mean bias, slope, n.

Conventions follow the US EPA performance targets for PM2.5 sensors (Duvall et al. 2021, EPA/600/R-20/280):
R² is the coefficient of determination of the ordinary least-squares line of the measurement on the
reference (the squared Pearson correlation), slope and intercept are that line's, bias is
mean(measurement - reference) and RMSE is sqrt(mean((measurement - reference)²)). A pure linear
rescaling therefore leaves R² unchanged; it lowers RMSE and bias and moves the slope to 1.
"""
from __future__ import annotations

import numpy as np


def compare(measured, reference) -> dict:
    """Metrics of `measured` against `reference` over the pairs where both are finite."""
    m = np.asarray(measured, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    ok = np.isfinite(m) & np.isfinite(r)
    m, r = m[ok], r[ok]
    n = int(m.size)
    if n == 0:
        return {"n": 0, "rmse": None, "r2": None, "bias": None, "slope": None, "intercept": None}
    diff = m - r
    out = {"n": n, "rmse": float(np.sqrt(np.mean(diff * diff))), "bias": float(np.mean(diff))}
    if n < 2 or np.ptp(r) == 0:
        out.update(r2=None, slope=None, intercept=None)
        return out
    rc, mc = r - r.mean(), m - m.mean()
    sxx, sxy, syy = float(rc @ rc), float(rc @ mc), float(mc @ mc)
    slope = sxy / sxx
    out["slope"] = slope
    out["intercept"] = float(m.mean() - slope * r.mean())
    out["r2"] = (sxy * sxy) / (sxx * syy) if syy > 0 else None
    return out
