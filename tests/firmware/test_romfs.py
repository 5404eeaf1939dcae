"""The firmware's ROMFS image (datacityzen/flash/romfs.py): MicroPython mounts it and runs the firmware
from it in place, without copying the bytecode into the heap."""
import json

from datacityzen.flash.romfs import build_image
from datacityzen.sim.runner import compile_tree

from mpy import FIRMWARE, run_mpy

IMPORT = """
import gc, json, os, sys, vfs
f = open("firmware.romfs", "rb")
image = f.read()
f.close()
if FROM_ROM:
    vfs.mount(vfs.VfsRom(image), "/rom")
    sys.path.insert(0, "/rom")
else:
    image = None
    sys.path.insert(0, "x64")
import asyncio, time, transport  # what mqtt imports besides itself (time: the simulated one, as source)
class O:
    pass
for i in range(800):  # grow the qstr pool first: its next growth would land in the figure below
    getattr(O, "q%d" % i, None)
gc.collect()
before = gc.mem_alloc()
import transport.mqtt
gc.collect()
heap = gc.mem_alloc() - before
res = {"file": transport.mqtt.__file__, "heap": heap}
if FROM_ROM:
    res["top"] = sorted(os.listdir("/rom"))
    res["transport"] = sorted(os.listdir("/rom/transport"))
print("RESULT " + json.dumps(res))
"""


def import_mqtt(folder, from_rom):
    proc = run_mpy(IMPORT.replace("FROM_ROM", str(from_rom)), cwd=folder, heapsize="400K")
    return json.loads(next(line[7:] for line in proc.stdout.splitlines() if line.startswith("RESULT ")))


def test_the_image_holds_the_compiled_firmware_and_runs_in_place(tmp_path):
    tree = compile_tree(FIRMWARE, tmp_path / "x64")
    (tmp_path / "firmware.romfs").write_bytes(build_image(tree))
    res = import_mqtt(tmp_path, True)

    assert res["file"] == "/rom/transport/mqtt.mpy"
    # Every module, compiled, in its package; boot and main stay on the filesystem, where the board
    # looks for them.
    assert res["transport"] == sorted(p.name for p in (tree / "transport").glob("*.mpy"))
    assert {"app.mpy", "transport", "drivers", "sensors", "noise"} <= set(res["top"])
    assert "main.mpy" not in res["top"] and "boot.mpy" not in res["top"]
    # Run in place: importing it costs the heap less than its bytecode would take copied there.
    from_files = import_mqtt(tmp_path, False)
    assert from_files["file"] == "x64/transport/mqtt.mpy"
    mpy_size = (tree / "transport" / "mqtt.mpy").stat().st_size
    assert res["heap"] < from_files["heap"] - mpy_size * 3 // 4, (res, from_files, mpy_size)


def test_the_flash_tool_writes_the_image_for_the_esp32(tmp_path, capsys):
    from datacityzen.cli import main

    assert main(["flash", "--romfs", str(tmp_path / "fw.romfs"), "--out", str(tmp_path / "out")]) == 0
    assert "mpremote romfs deploy" in capsys.readouterr().out
    image = (tmp_path / "fw.romfs").read_bytes()
    assert image[:3] == b"\xd2\xcd\x31"  # the VfsRom header (mpremote romfs deploy checks it)
    assert b"kernel_viper.mpy" in image and b"main.mpy" not in image
    # Compiled for the ESP32: the viper kernel's native code is Xtensa windowed (mpy header byte 2,
    # arch in bits 2..7: 10 = xtensawin, py/persistentcode.h).
    viper = (tmp_path / "out" / "build" / "xtensawin" / "noise" / "kernel_viper.mpy").read_bytes()
    assert viper[0] == ord("M") and viper[2] >> 2 == 10
    assert viper in image
