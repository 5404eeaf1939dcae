"""The smallest heap each phase of a kit's cycle needs, and what the cycle leaves in the heap, by kind.

    PYTHONPATH=server python bench/heap_phases.py [--kit exhibition-v1] [--phases build,connect,measure,full]
    PYTHONPATH=server python bench/heap_phases.py --kit exhibition-v1 --objects

The same measurement as tests/firmware/test_cycle_heap.py (firmware from its ROMFS image, against the
server's embedded broker, harness, image and simulated hardware subtracted), for prefixes of the cycle:
`build` (configuration and App), `connect` (+ the link up), `measure` (+ one reading spooled) and
`full` (+ the batch published and acknowledged). For each: the smallest heap the phase completes in
(KB, the figure the issue's goal is about) and what stays in use after it.

`--objects` instead runs one full cycle in a large heap and compares the heap's block map
(micropython.mem_info(1)) before the firmware is imported and after the cycle: the new objects,
grouped by the map's kind letter (B function, D dict, S string, T tuple, L list, F float, M module,
A array, h anything else: dict tables, class objects, raw code, buffers, the qstr pool) and size,
largest totals first, and the qstr pool's growth. Unix port, 64-bit: 32-byte blocks.
"""
import argparse
import collections
import contextlib
import re
import socket
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "firmware"), str(ROOT / "tests"), str(ROOT / "server")]

import test_cycle_heap as T  # noqa: E402
from datacityzen.broker import EmbeddedBroker  # noqa: E402
from datacityzen.sim.runner import load_kit, prepare_device  # noqa: E402

_MEASURE_ON = ('    n, errors = await measure()  # the reading goes once it is spooled, as in the app\'s measure task\n'
               '    return await a.flush_once(), n, errors')
_FULL = '    await a.link.connect()\n' + _MEASURE_ON
PHASES = {
    "build": (_FULL, "    return 1, len(a.sampler.quantities), None"),
    "connect": (_MEASURE_ON,
                "    return 1, len(a.sampler.quantities), None"),
    "measure": ('    return await a.flush_once(), n, errors', '    return 1, n, errors'),
    "full": (None, None),
}


def _script(phase):
    old, new = PHASES[phase]
    if old is None:
        return T.CYCLE
    assert old in T.CYCLE, "tests/firmware/test_cycle_heap.py's CYCLE changed: update PHASES"
    return T.CYCLE.replace(old, new)


def report(kit, label, run):
    """Bisect the smallest heap in which `run(heap_kb)` gives a complete result; print it, less the
    harness, the ROMFS image and the simulated hardware, with what stays in use after the run."""
    full = run(T.SIM_HEAP_KB * 2)
    if not T.complete(full):
        raise SystemExit(f"{label}: no complete run in a large heap: {full}")
    lo = max(1, (full["steady"] - full["rom_image"]) // 1024 - 1)
    min_heap = T.smallest_heap_kb(lambda kb: T.complete(run(kb)), lo, T.SIM_HEAP_KB * 2) + T.rom_kb()
    not_fw = full["harness"] + full["rom_image"] + full["sim_hw"]
    print(f"{kit['id']:15s} {label:8s} smallest heap {min_heap - not_fw / 1024:6.1f} KB"
          f"   in use after {(full['steady'] - not_fw) / 1024:6.1f} KB", flush=True)


def phases(kit, make_folder, names):
    for name in names:
        script = _script(name)
        report(kit, name, lambda kb: T.run_cycle(kit, make_folder, kb, script=script))


@contextlib.contextmanager
def kit_devices(kit):
    """The server's embedded broker, running, and make_folder(): a fresh device folder of `kit` on it
    at each call (a failed run must not leave readings for the next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    broker = EmbeddedBroker("127.0.0.1", port)
    broker.start()
    tmp = Path(tempfile.mkdtemp(prefix="dcz-heap-"))
    runs = iter(range(1 << 30))

    def make_folder():
        folder = tmp / f"dev{next(runs)}"
        prepare_device(folder, "heap-test-01", kit, ("127.0.0.1", port), 2, None, seed=3)
        return folder

    try:
        yield make_folder
    finally:
        broker.stop()


def _blocks(dump):
    """{block index: (kind letter, blocks)} from the map micropython.mem_info(1) prints: 64 blocks a
    line, each line headed by its byte offset; runs of free lines are left out of the print."""
    m = []
    for line in dump.splitlines():
        found = re.match(r"^([0-9a-f]{8}): (.*)$", line)
        if found:
            at = int(found.group(1), 16) // 32
            m.extend("." * (at - len(m)))
            m.extend(found.group(2).strip())
    out, i = {}, 0
    while i < len(m):
        if m[i] in "=.":
            i += 1
            continue
        j = i + 1
        while j < len(m) and m[j] == "=":
            j += 1
        out[i] = (m[i], j - i)
        i = j
    return out


def objects(kit, make_folder):
    mark = "import micropython\nmicropython.qstr_info()\nprint('DUMP %s')\nmicropython.mem_info(1)\n"
    script = T.CYCLE.replace("import asyncio, app\n", mark % "before" + "import asyncio, app\n")
    script = script.replace('print("RESULT "', mark % "after" + 'print("RESULT "')
    image, sim_hw = T.firmware_romfs()
    code = (script.replace("I2S_RATE", str(T._i2s_rate(kit))).replace("ROM_SIZE", str(image.stat().st_size))
            .replace("ROM_PATH", repr(str(image))))
    proc = T.run_mpy(code, cwd=make_folder(), heapsize="600K", extra_path=(sim_hw,), check=False, timeout=60)
    parts = proc.stdout.split("DUMP ")
    if len(parts) != 3:
        raise SystemExit(proc.stdout[-2000:] + proc.stderr[-2000:])
    print("\n".join(line for line in proc.stdout.splitlines() if line.startswith("qstr pool")))
    before, after = _blocks(parts[1]), _blocks(parts[2])
    new = [v for pos, v in after.items() if before.get(pos) != v]
    groups = collections.Counter(new)
    print(f"{kit['id']}: objects new after the cycle (kind, blocks of 32 bytes, count, KB)")
    for (kind, n), count in sorted(groups.items(), key=lambda kv: -kv[0][1] * kv[1]):
        print(f"  {kind} {n:4d} x {count:4d} = {n * count * 32 / 1024:6.1f}")
    print(f"  in all {sum(n for _, n in new) * 32 / 1024:.1f} KB, {len(new)} objects")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kit", default="exhibition-v1")
    ap.add_argument("--phases", default="build,connect,measure,full")
    ap.add_argument("--objects", action="store_true")
    args = ap.parse_args()
    kit = load_kit(args.kit)
    with kit_devices(kit) as make_folder:
        if args.objects:
            objects(kit, make_folder)
        else:
            phases(kit, make_folder, args.phases.split(","))

if __name__ == "__main__":
    main()
