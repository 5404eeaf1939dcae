"""The heap one measure-and-publish cycle needs, per kit, under the real MicroPython with a real broker.

The firmware runs as on a production ESP32: compiled with mpy-cross and packed in a ROMFS image
(datacityzen/flash/romfs.py), mounted at /rom, from which MicroPython executes the bytecode in place.
Only what running the modules builds is in the heap (function, class and dict objects, raw-code
records, qstr pool entries), not the bytecode and constants as when .mpy files are imported from a
filesystem. On the ESP32 the image is memory-mapped flash; the unix port has no ROM, so the image is
read into one bytearray before anything else and that block is subtracted.

The simulated hardware (machine.py, network.py, the chip modules and their chip objects) lives in the
same heap in the unix port but not on an ESP32, so its cost is measured and subtracted. So is the
harness (the interpreter's own state and this test's script, present before anything is imported).
The firmware's figure is the smallest heap in which a whole cycle (connect, measure with every sensor
of the kit, spool, publish QoS 1, PUBACK) completes, less those three:

    firmware_cycle_kb = min_heap_kb - (harness + ROMFS image + simulated hardware) / 1024

The VfsRom object and its mount stay counted with the firmware (the ESP32 builds them too). The
simulated hardware is measured in the same run: its modules are imported and each chip of the kit is
built once (then dropped: the firmware's bus constructors build their own), the heap in use after a
collection counted before and after. The simulator runs the firmware as .mpy files from the device's
folder and gives each device 110K plus SIM_HW_ALLOWANCE_KB plus WORD_SIZE_MARGIN_KB (sim/runner.py):
the test checks that a cycle completes that way too, and each kit's simulated hardware fits its
allowance. The cycle here runs its steps one after the other, and lets the reading go once it is
spooled, as the app's measure task does: the reading is taken in a coroutine of its own, measure(),
whose frame goes with it. Held in the cycle's own frame, even set to None, the reading stayed in the
heap through the flush (1.7 KB for exhibition-v1): the garbage collector scans every slot of a
coroutine's frame, including the stack slots an expression left behind, and `r.get(...)` left one
pointing at the reading. The app's own tasks, which measure while the link connects and publishes its
status, need a few KB more (bench/heap_app_run.py).

The unix port is 64-bit: its heap blocks are 32 bytes (16 on the ESP32) and every pointer takes 8
bytes, so these figures are upper bounds for the ESP32; what is left in the heap with ROMFS is almost
all pointers (objects, dicts, qstr entries), which take half as much on the ESP32.

Figures go to test-artifacts/heap-<kit>.json. The project's goal (issue 3) is a cycle in less than
64 KB, GOAL_KB, and every kit is asserted to meet it: exhibition-v1 62.2 KB, pollen-v1 53.2, air-indoor-v1
53.3, air-outdoor-v1 50.2, noise-v1 49.6 (over LoRaWAN, test_lorawan_cycle_heap.py: air-outdoor-v1
56.9, noise-v1 55.3). exhibition-v1 measures 62.2 on a quiet machine and on one loaded by CPU-bound
processes; with other simulator tests running beside it (as in CI) it measured 62.2 or 63.2 until the
app collected before each send and wrote uplinks in 128-byte pieces, and 62.2 in 7 runs of 7 since.

exhibition-v1 (particles, climate with gas, sound, pollen proxy) is the largest kit. Its history:
127.8 KB; 105.1 after unloading what only builds the app, the noise meter built with the app and
without the plain kernel or the A-weighting design kept, a GC threshold, a 2 KB payload buffer; 111.7
after merging the store-and-forward link; 79.5 from ROMFS instead of .mpy files; 76-79 collecting
every 2 KB from the first import; 66.3 after a round on every layer (bench/heap_phases.py gives each
phase): no payload buffer (an uplink is written in pieces as it is sent, each reading encoded in
small parts), spool records written and read as bytes, the MQTT connection on its own small TCP
stream instead of asyncio's streams, acknowledgements polled instead of an Event under wait_for per
request, code used once per boot (spool reopening, the kit's sensor table, the BME680 calibration,
the setup portal's switching) loaded for that and dropped, the configuration cut to what the running
firmware reads, a window's lists and the sound sensor's chunk buffer made per window; 63.9 with the
MQTT connection's setup bounded by a deadline on its stream instead of asyncio.wait_for (asyncio/funcs.py
no longer loaded), the drivers' four error kinds made on first use, and two exception classes that
nothing caught by name replaced by existing ones; 62.8 once this test let the reading go for real
(see measure() below); 62.2 with the connection's setup in a module loaded per connect
(transport/mqtt_session.py), a collection before each send and smaller uplink pieces.
What is left after a cycle (53 KB) is the modules' objects (function objects and their raw-code
records, class, module and instance-attribute tables, string constants), the qstr pool (a single
7 KB block when the pool grows past 630 names: the simulated hardware's names come first here),
asyncio (7 KB, frozen) and the app's objects; the cycle needs about 10 KB more, a few KB live (the
reading read back from the spool, the coroutines of the send, the pieces being written), the rest
the heap's fragmentation.
"""
import json
from pathlib import Path

import pytest

from datacityzen.sim.runner import FIRMWARE_HEAP_KB, SIM_HEAP_KB, SIM_HW_ALLOWANCE_KB, load_kit, prepare_device
from fwsim import compiled_dir, firmware_romfs
from mpy import run_mpy

KITS = ["air-outdoor-v1", "air-indoor-v1", "noise-v1", "pollen-v1", "exhibition-v1"]
# The project's goal (issue 3): a cycle in less than 64 KB of the ESP32's 110 KB, measured here.
GOAL_KB = 64
# The same kit measures a few KB apart from run to run: which of the device's asyncio tasks allocates
# first decides how the heap fragments (noise-v1 over LoRaWAN once measured 67.2 KB against 62.2
# usually, on CI's loaded two cores, before later rounds brought it to 55). Each kit is 1.8 KB or more
# below the goal; whether a run met it is also written to test-artifacts ("meets_goal") and printed.


CYCLE = """
import gc, json
gc.collect()
harness = gc.mem_alloc()
rom_image = 0
if ROM_PATH:
    import sys, vfs
    f = open(ROM_PATH, "rb")
    image = bytearray(ROM_SIZE)
    f.readinto(image)
    f.close()
    f = None
    gc.collect()
    rom_image = gc.mem_alloc() - harness
    vfs.mount(vfs.VfsRom(image), "/rom")
    sys.path.insert(0, "/rom")
gc.collect()
before_hw = gc.mem_alloc()  # the mount's objects are counted with the firmware: the ESP32 has them too
import machine, network, ntptime, sim_env
hw = machine.config()
def chips():
    out = []
    for d in hw.get("uart", {}).values():
        out.append(machine._model(d))
    for bus in hw.get("i2c", {}).values():
        for d in bus.values():
            out.append(machine._model(d))
    if hw.get("i2s"):
        import i2s_model
        for d in hw["i2s"].values():
            out.append(i2s_model.MicModel(d, I2S_RATE))
    return out
models = chips()
gc.collect()
sim_hw = gc.mem_alloc() - before_hw
models = None
gc.collect()
import asyncio, app
cfg, problem = app.load_config()
a = app.App(cfg)
cfg = None
async def measure():
    r = await a.measure_once()
    return len(r["values"]), r.get("errors")
async def cycle():
    await a.link.connect()
    n, errors = await measure()  # the reading goes once it is spooled, as in the app's measure task
    return await a.flush_once(), n, errors
sent, n_values, errors = asyncio.run(cycle())
gc.collect()
print("RESULT " + json.dumps({"sent": sent, "values": n_values, "expected": len(a.sampler.quantities),
                              "errors": errors, "harness": harness, "rom_image": rom_image, "sim_hw": sim_hw,
                              "steady": gc.mem_alloc()}))
"""


def _i2s_rate(kit):
    return next((b["rate"] for b in kit["buses"].values() if b.get("type") == "i2s"), 16000)


def rom_kb():
    """The heap the ROMFS image takes in the unix port (whole KB): run_cycle adds it to the heap."""
    return -(-firmware_romfs()[0].stat().st_size // 1024)


def run_cycle(kit, make_folder, heap_kb: int, rom: bool = True, script: str = CYCLE):
    """One cycle in a heap of `heap_kb` besides the ROMFS image (rom), else with the firmware as .mpy
    files in a heap of `heap_kb`. `script`: CYCLE or a variant of it (test_lorawan_cycle_heap.py)."""
    folder = make_folder()  # a fresh flash each run: a failed run must not leave readings for the next
    code = script.replace("I2S_RATE", str(_i2s_rate(kit)))
    if rom:
        image, sim_hw = firmware_romfs()
        code = code.replace("ROM_SIZE", str(image.stat().st_size)).replace("ROM_PATH", repr(str(image)))
        extra = (sim_hw,)
        heap_kb += rom_kb()
    else:
        code = code.replace("ROM_PATH", "None")
        extra = (compiled_dir(),)
    proc = run_mpy(code, cwd=folder, heapsize=f"{heap_kb}K", extra_path=extra, check=False, timeout=60)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return None


def complete(result):
    """A cycle counts when the reading was published and every sensor gave all its values: a sensor
    whose code failed for lack of memory is caught and reported as an error, and the cycle still
    publishes, so `sent` alone would pass with a broken sensor."""
    return (result is not None and result["sent"] == 1 and not result["errors"]
            and result["values"] == result["expected"])


def smallest_heap_kb(works, lo, hi):
    """The smallest heap (KB) from which `works(kb)` holds, knowing works(hi) and not works(lo).

    Bisection to 1 KB, then a check of the 4 sizes just above: fragmentation makes "fits in N KB" not
    quite monotonic in N, so the answer is the smallest size above which every checked size worked.
    """
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if works(mid):
            hi = mid
        else:
            lo = mid
    for kb in range(hi + 1, hi + 5):
        if not works(kb):
            hi = kb + 1
    return hi


@pytest.mark.slow
@pytest.mark.parametrize("kit_id", KITS)
def test_one_cycle_fits_the_esp32_heap(kit_id, amqtt_broker, tmp_path):
    kit = load_kit(kit_id)
    runs = iter(range(1000))

    def make_folder():
        folder = tmp_path / f"dev{next(runs)}"
        prepare_device(folder, "heap-test-01", kit, (amqtt_broker.host, amqtt_broker.port), 2, None, seed=3)
        return folder

    def works(kb):
        return complete(run_cycle(kit, make_folder, kb))

    # The simulator runs the firmware as .mpy files on the device's filesystem, in SIM_HEAP_KB.
    files = run_cycle(kit, make_folder, SIM_HEAP_KB, rom=False)
    assert complete(files), f"{kit_id}: no complete cycle in the simulator's heap: {files}"
    assert files["sim_hw"] <= SIM_HW_ALLOWANCE_KB * 1024, f"{kit_id}: simulated hardware outgrew its allowance"

    full = run_cycle(kit, make_folder, SIM_HEAP_KB)
    assert complete(full), f"{kit_id}: no complete cycle from the ROMFS image: {full}"
    image = full["rom_image"]

    # Heap sizes below are besides the image (run_cycle adds rom_kb()). The search range: no smaller
    # than what stays in use after the cycle; the top, a size known to work.
    lo = (full["steady"] - image) // 1024
    assert not works(lo), "a cycle cannot complete in less heap than it keeps in use"
    hi = min(lo + 16, SIM_HEAP_KB)
    if not works(hi):
        lo, hi = hi, SIM_HEAP_KB
    min_heap = smallest_heap_kb(works, lo, hi) + rom_kb()

    not_firmware = full["harness"] + image + full["sim_hw"]
    firmware_kb = min_heap - not_firmware / 1024
    report = {
        "kit": kit_id,
        "min_heap_kb_with_sim_hw": min_heap,
        "harness_kb": round(full["harness"] / 1024, 1),
        "rom_image_kb": round(image / 1024, 1),
        "sim_hw_kb": round(full["sim_hw"] / 1024, 1),
        "firmware_cycle_kb": round(firmware_kb, 1),
        "firmware_steady_kb": round((full["steady"] - not_firmware) / 1024, 1),
        "firmware_steady_kb_from_files": round((files["steady"] - files["harness"] - files["sim_hw"]) / 1024, 1),
        "goal_kb": GOAL_KB,
        "meets_goal": firmware_kb < GOAL_KB,
    }
    print("heap figure:", json.dumps(report))
    out = Path(__file__).resolve().parents[2] / "test-artifacts"
    out.mkdir(exist_ok=True)
    (out / f"heap-{kit_id}.json").write_text(json.dumps(report, indent=1))
    assert firmware_kb < min(GOAL_KB, FIRMWARE_HEAP_KB), report
