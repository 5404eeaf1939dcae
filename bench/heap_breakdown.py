"""Where a kit's heap goes, on the MicroPython unix port: per module imported, per step of one cycle.

    PYTHONPATH=server python bench/heap_breakdown.py [--kit exhibition-v1]

Runs the firmware twice, from its ROMFS image (as an ESP32 runs it from flash) and from .mpy files (as
the simulator runs it), against the server's embedded broker, and prints for each: the heap each
firmware module costs when imported (after a collection; the qstr pool is grown beforehand so that its
growth is not charged to whichever module happens to trigger it), then what each step of a cycle keeps
(configuration, buses, sensors, spool and link, connect, measure, flush). Last line, one JSON object:
{"kit", "rom": {...}, "files": {...}, "rom_over_files_modules"}. The simulated hardware's modules are
imported before the first figure, so they are not in them; the chip objects the simulated bus
constructors build are, in the buses step (about 3 KB for exhibition-v1; none on an ESP32). The unix
port is 64-bit: objects take about twice what they take on the ESP32; the ratios carry over better
than the bytes.
tests/firmware/test_cycle_heap.py measures the smallest heap a whole cycle needs.
"""
import argparse
import json
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from datacityzen.flash.romfs import build_image  # noqa: E402
from datacityzen.sim.paths import SIM_HW, firmware_dir  # noqa: E402
from datacityzen.sim.runner import compile_tree, find_micropython, load_kit, prepare_device  # noqa: E402

SCRIPT = """
import gc, json, sys
MODE = %(mode)r
if MODE == "rom":
    import vfs
    f = open(%(image)r, "rb")
    image = f.read()
    f.close()
    vfs.mount(vfs.VfsRom(image), "/rom")
    sys.path.insert(0, "/rom")
else:
    sys.path.insert(0, %(files)r)
import machine, network, ntptime, sim_env
hw = machine.config()
chips = [machine._model(d) for d in hw.get("uart", {}).values()]
chips += [machine._model(d) for bus in hw.get("i2c", {}).values() for d in bus.values()]
if hw.get("i2s"):
    import i2s_model
    chips += [i2s_model.MicModel(d, 16000) for d in hw["i2s"].values()]
chips = None
class _Q:
    pass
for i in range(3000):  # grow the qstr pool now, past what the firmware adds (see the module docstring)
    getattr(_Q, "q%%d" %% i, None)
out = {"modules": [], "steps": []}  # [name, bytes]: lists keep the order
def used():
    gc.collect()
    return gc.mem_alloc()
for name in %(modules)r:
    before = used()
    __import__(name)
    out["modules"].append([name, used() - before])
import asyncio, app
base = used()
last = [base]
def step(name):
    now = used()
    out["steps"].append([name, now - last[0]])
    last[0] = now
cfg, problem = app.load_config()
step("configuration")
a = app.App(cfg)
cfg = None
step("buses, sensors, spool, link")
async def cycle():
    await a.link.connect()
    step("connect")
    r = await a.measure_once()
    r = None
    step("measure")
    await a.flush_once()
    step("flush")
asyncio.run(cycle())
out["after_cycle"] = used() - base
print("RESULT " + json.dumps(out))
"""

# The modules a cycle of any kit may load, in an order their own imports respect; those a kit does not
# use are left out (imported only if the kit's sensors need them).
COMMON = ["asyncio", "asyncio.funcs", "log", "version", "transport", "transport.wire",
          "drivers", "drivers.errors", "sensors", "sensors.window", "transport.mqtt", "transport.tcp", "transport.spool",
          "transport.wifi_mqtt"]
BY_SENSOR = {
    "sds011": ["drivers.sds011", "sensors.pm_sds011"], "pms5003": ["drivers.pms5003", "sensors.pm_pms5003"],
    "sps30": ["drivers.sensirion_crc", "drivers.sps30", "sensors.pm_sps30"],
    "bme280": ["drivers.bme280", "sensors.climate_bme280"], "bme680": ["drivers.bme680", "sensors.climate_bme680"],
    "sht3x": ["drivers.sensirion_crc", "drivers.sht3x", "sensors.climate_sht3x"],
    "sht4x": ["drivers.sensirion_crc", "drivers.sht4x", "sensors.climate_sht4x"],
    "inmp441": ["drivers.i2s_mic", "drivers.inmp441", "noise", "noise.meter", "sensors.sound_i2s"],
    "ics43434": ["drivers.i2s_mic", "drivers.ics43434", "noise", "noise.meter", "sensors.sound_i2s"],
    "sph0645": ["drivers.i2s_mic", "drivers.sph0645", "noise", "noise.meter", "sensors.sound_i2s"],
}


def modules_of(kit):
    names = list(COMMON)
    for s in kit["sensors"]:
        names += [m for m in BY_SENSOR.get(s["type"], []) if m not in names]
    if kit.get("derived"):
        names.append("sensors.pollen")
    return names + ["app"]


def run(mode, kit, work, broker_port):
    folder = work / mode
    prepare_device(folder, "bench-heap-01", kit, ("127.0.0.1", broker_port), 2, None, seed=3)
    script = SCRIPT % {"mode": mode, "image": str(work / "firmware.romfs"), "files": str(work / "fw"),
                       "modules": modules_of(kit)}
    env = {"MICROPYPATH": f"{work / 'hw'}:.frozen", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([find_micropython(), "-X", "heapsize=1M", "-c", script], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"{mode}: no result\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kit", default="exhibition-v1")
    args = ap.parse_args()
    kit = load_kit(args.kit)
    from datacityzen.broker import EmbeddedBroker

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    broker = EmbeddedBroker("127.0.0.1", port)
    broker.start()
    try:
        with tempfile.TemporaryDirectory(prefix="dcz-heap-") as tmp:
            work = Path(tmp)
            (work / "firmware.romfs").write_bytes(build_image(compile_tree(firmware_dir(), work / "fw")))
            compile_tree(SIM_HW, work / "hw")
            res = {mode: run(mode, kit, work, port) for mode in ("rom", "files")}
    finally:
        broker.stop()
    rom, files = res["rom"], res["files"]
    print(f"{args.kit}: bytes of heap, from ROMFS / from .mpy files")
    for (name, r), (_, f) in zip(rom["modules"], files["modules"]):
        print(f"  import {name:24s} {r:7d} {f:7d}")
    for (name, r), (_, f) in zip(rom["steps"], files["steps"]):
        print(f"  {name:31s} {r:7d} {f:7d}")
    mods = {m: sum(b for _, b in r["modules"]) for m, r in res.items()}
    print(f"  {'modules in all':31s} {mods['rom']:7d} {mods['files']:7d}")
    print(json.dumps({"kit": args.kit, "rom": rom, "files": files,
                      "rom_over_files_modules": round(mods["rom"] / mods["files"], 3)}))


if __name__ == "__main__":
    main()
