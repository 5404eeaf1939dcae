"""Run firmware code under the real MicroPython unix port against the simulated hardware.

`run_fw(code, tmp_path, hw)` writes `hw` as sim_hw.json in tmp_path, runs `code` there with
`out(obj)` available to print a result, and returns the decoded result.

The firmware and the simulated chips run precompiled (mpy-cross, bytecode for the unix port), as the
firmware runs on the ESP32 (.mpy or frozen): compiling a module from source needs a transient parse
tree of several KB, which fragments a 110 KB heap and is not what the device pays.
"""
import json
import tempfile
from pathlib import Path

from datacityzen.sim.runner import compile_tree

from mpy import FIRMWARE, KITS, SIM_HW, run_mpy

_compiled = None


def compiled_dir():
    """Compile firmware/ and the simulated hardware once per test session; return the folder."""
    global _compiled
    if _compiled is None:
        out = Path(tempfile.mkdtemp(prefix="dcz-mpy-"))
        for root in (FIRMWARE, SIM_HW):
            compile_tree(root, out)
        _compiled = out
    return _compiled


_rom = None


def firmware_romfs():
    """(image, sim_hw_dir): the firmware alone compiled and packed as a ROMFS image, as the flash
    station deploys it to an ESP32 (datacityzen/flash/romfs.py), and the simulated hardware alone
    compiled, for runs that mount the image at /rom (the firmware must not also be on the path)."""
    global _rom
    if _rom is None:
        from datacityzen.flash.romfs import build_image

        out = Path(tempfile.mkdtemp(prefix="dcz-romfs-"))
        image = out / "firmware.romfs"
        image.write_bytes(build_image(compile_tree(FIRMWARE, out / "fw")))
        _rom = image, compile_tree(SIM_HW, out / "hw")
    return _rom

PRELUDE = """\
import json
def out(obj):
    print("RESULT " + json.dumps(obj))
"""

KIT = json.loads((KITS / "air-outdoor-v1.json").read_text())

HEALTHY = {
    "seed": 7,
    "uart": {"2": {"chip": "sds011", "period_s": 0.2, "faults": {}}},
    "i2c": {"0": {"118": {"chip": "bme280", "faults": {}}}},
}


def run_fw(code, tmp_path, hw=None, heapsize="110K", timeout=60, source=False):
    """`source=True` runs the .py files themselves (give it a bigger heap)."""
    if hw is not None:
        (tmp_path / "sim_hw.json").write_text(json.dumps(hw))
    extra = () if source else (compiled_dir(),)
    proc = run_mpy(PRELUDE + code, cwd=tmp_path, heapsize=heapsize, timeout=timeout, extra_path=extra)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise AssertionError("no RESULT line\n--- stdout\n%s\n--- stderr\n%s" % (proc.stdout, proc.stderr))
