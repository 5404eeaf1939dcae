"""Calibration: pure functions over numpy arrays and a registry of named, versioned models.

No I/O and no database here: callers read files and rows and pass arrays. See docs/calibration.md.
"""
from .registry import BUILTIN, KINDS, Model, ModelError, fitted_model, from_dict

__all__ = ["BUILTIN", "KINDS", "Model", "ModelError", "fitted_model", "from_dict"]
