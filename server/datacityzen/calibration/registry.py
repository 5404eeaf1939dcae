"""A registry of named, versioned calibration models.

A model is data: a kind (what function), a version, parameters and the quantity it corrects. Applying
a model is a pure function of numpy arrays, so any calibrated value can be recomputed from the raw
values and the model's stored JSON. Built-in published models carry a fixed version; a fitted model's
version is a content hash of its parameters, so the same fit always gets the same version and two
different fits never share one.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from . import fit, published

FILE_FORMAT = "datacityzen-calibration"
FILE_FORMAT_VERSION = 1


class ModelError(ValueError):
    """A model name, file or parameter set we cannot use; the message says what to do."""


@dataclass(frozen=True)
class Kind:
    inputs: tuple[str, ...]  # "x" is the corrected quantity's own raw value
    apply: object  # (params, inputs) -> ndarray
    description: str


def _apply_none(params, inputs):
    return np.asarray(inputs["x"], dtype=np.float64).copy()


def _apply_koehler(params, inputs):
    return published.kappa_koehler(
        inputs["x"], inputs["rh"], params["kappa_over_density"], params["rh_min"], params["rh_max"]
    )


KINDS: dict[str, Kind] = {
    "none": Kind(("x",), _apply_none, "identity: the raw value"),
    "epa-2021": Kind(("x", "rh"), lambda p, i: published.epa_2021(i["x"], i["rh"]),
                     "US EPA 2021 (Barkjohn et al., AMT 14, 4617): 0.524 x - 0.0862 RH + 5.75"),
    "epa-2022-smoke": Kind(("x", "rh"), lambda p, i: published.epa_2022_smoke(i["x"], i["rh"]),
                           "US EPA 2022 smoke extension (Barkjohn et al., Sensors 22, 9669)"),
    "kappa-koehler": Kind(("x", "rh"), _apply_koehler,
                          "κ-Köhler humidity correction (Crilley et al. 2018, AMT 11, 709)"),
    "linear": Kind(("x",), lambda p, i: fit.predict(p, i), "fitted: a + b x"),
    "mlr": Kind(("x", "rh", "temperature"), lambda p, i: fit.predict(p, i), "fitted: a + b x + c RH + d T"),
}


@dataclass(frozen=True)
class Model:
    kind: str
    version: str
    params: dict = field(default_factory=dict)
    quantity: str = "pm2_5"
    meta: dict = field(default_factory=dict, compare=False)  # provenance, metrics: not part of identity

    @property
    def inputs(self) -> tuple[str, ...]:
        return KINDS[self.kind].inputs

    def apply(self, x, rh=None, temperature=None) -> np.ndarray:
        """The corrected values; NaN where a needed input is missing (NaN)."""
        inputs = {"x": x, "rh": rh, "temperature": temperature}
        missing = [n for n in self.inputs if inputs[n] is None]
        if missing:
            raise ModelError(f"model {self.kind} needs {', '.join(missing)} (give the column)")
        arrays = {n: np.asarray(inputs[n], dtype=np.float64) for n in self.inputs}
        return np.asarray(KINDS[self.kind].apply(self.params, arrays), dtype=np.float64)

    def to_dict(self) -> dict:
        doc = {"format": FILE_FORMAT, "format_version": FILE_FORMAT_VERSION, "model": self.kind,
               "version": self.version, "quantity": self.quantity, "params": self.params}
        if self.meta:
            doc["meta"] = self.meta
        return doc

    def params_json(self) -> str:
        """The identity of the model as canonical JSON (what the calibrations table stores)."""
        return json.dumps({"model": self.kind, "version": self.version, "quantity": self.quantity,
                           "params": self.params}, sort_keys=True, separators=(",", ":"))


def content_version(kind: str, quantity: str, params: dict) -> str:
    text = json.dumps({"model": kind, "quantity": quantity, "params": params}, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


BUILTIN: dict[str, Model] = {
    "none": Model("none", "1", {}, quantity="*"),
    "epa-2021": Model("epa-2021", "2021.1"),
    "epa-2022-smoke": Model("epa-2022-smoke", "2022.1"),
    "kappa-koehler": Model("kappa-koehler", "2018.1", {
        "kappa_over_density": published.KOEHLER_KAPPA_OVER_DENSITY,
        "rh_min": published.KOEHLER_RH_MIN, "rh_max": published.KOEHLER_RH_MAX}),
}


def fitted_model(kind: str, params: dict, quantity: str = "pm2_5", meta: dict | None = None) -> Model:
    return Model(kind, content_version(kind, quantity, params), params, quantity, meta or {})


def from_dict(doc: dict) -> Model:
    if not isinstance(doc, dict):
        raise ModelError("a calibration model must be a JSON object")
    kind = doc.get("model")
    if kind not in KINDS:
        raise ModelError(f"unknown model {kind!r}; known: {', '.join(KINDS)}")
    params = doc.get("params") or {}
    if kind in ("linear", "mlr"):
        coeffs = params.get("coefficients")
        if not isinstance(params.get("intercept"), (int, float)) or not isinstance(coeffs, dict) \
                or set(coeffs) != set(fit.FIT_INPUTS[kind]):
            raise ModelError(f"model {kind}: params need an intercept and coefficients for "
                             f"{', '.join(fit.FIT_INPUTS[kind])}")
        version = content_version(kind, doc.get("quantity", "pm2_5"), params)
        if doc.get("version") not in (None, version):
            raise ModelError(f"model file version {doc.get('version')!r} does not match its parameters "
                             f"(expected {version}): the file was edited")
        return Model(kind, version, params, doc.get("quantity", "pm2_5"), doc.get("meta") or {})
    builtin = BUILTIN[kind]
    if doc.get("version", builtin.version) != builtin.version:
        raise ModelError(f"model {kind} has version {builtin.version} here, not {doc.get('version')!r}")
    return builtin
