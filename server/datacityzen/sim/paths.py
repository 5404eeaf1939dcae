"""Where the firmware, the kits and the simulated hardware live (repository checkout or installed tree)."""
from __future__ import annotations

import os
from pathlib import Path

_HERE = Path(__file__).resolve().parent
SIM_HW = _HERE / "hw"
CPYTHON_SHIMS = _HERE / "cpython_shims"


def repo_root() -> Path:
    return Path(os.environ.get("DCZ_REPO", _HERE.parents[2]))


def firmware_dir() -> Path:
    return Path(os.environ.get("DCZ_FIRMWARE_DIR", repo_root() / "firmware"))


def kits_dir() -> Path:
    return Path(os.environ.get("DCZ_KITS_DIR", repo_root() / "kits"))
