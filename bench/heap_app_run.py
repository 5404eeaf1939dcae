"""The smallest heap the real application needs for its first reading, as main.py runs it on a device.

    PYTHONPATH=server python bench/heap_app_run.py [--kit exhibition-v1] [--runs 3]

tests/firmware/test_cycle_heap.py runs a cycle's steps one after the other (connect, measure, flush).
On a device, main.py runs app.App(cfg).main(): the send task connects and publishes the status while
the measure task takes the first reading, so their transient objects are alive at the same time. This
runs that: the app's own tasks until the first reading is acknowledged by the broker, with the same
measurement as the test (firmware from its ROMFS image, against the server's embedded broker; harness,
image and simulated hardware subtracted). A run counts only if the first reading has every value of
the kit and no error, and the app logged no failure (connect_failed, send_failed, measure_failed,
status_failed): the app retries after a MemoryError, which would hide a heap too small.
"""
import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "firmware"), str(ROOT / "tests"), str(ROOT / "server")]

import test_cycle_heap as T  # noqa: E402
from datacityzen.sim.runner import load_kit  # noqa: E402
from heap_phases import kit_devices, report  # noqa: E402  (bench/, beside this file)

_STEPS = T.CYCLE[T.CYCLE.index("async def cycle():"):T.CYCLE.index("sent, n_values, errors")]
APP_RUN = T.CYCLE.replace(_STEPS, '''first = []
measure_once = a.measure_once
async def measure_and_keep():
    r = await measure_once()
    if not first:  # what the result needs, not the reading: the app lets it go once it is spooled
        first.append((len(r["values"]), r.get("errors")))
    return r
a.measure_once = measure_and_keep
async def cycle():
    asyncio.create_task(a.main())
    while not first or a.spool.pending():
        await asyncio.sleep_ms(10)
    n, errors = first[0]
    first.clear()
    return 1, n, errors
''')
FAILURES = ("dcz connect_failed", "dcz send_failed", "dcz measure_failed", "dcz status_failed")


def run_app(kit, make_folder, heap_kb):
    folder = make_folder()
    image, sim_hw = T.firmware_romfs()
    code = (APP_RUN.replace("I2S_RATE", str(T._i2s_rate(kit))).replace("ROM_SIZE", str(image.stat().st_size))
            .replace("ROM_PATH", repr(str(image))))
    try:
        proc = T.run_mpy(code, cwd=folder, heapsize=f"{heap_kb + T.rom_kb()}K", extra_path=(sim_hw,),
                         check=False, timeout=30)
    except Exception:  # a timeout: the app kept retrying
        return None
    if any(f in proc.stdout for f in FAILURES):
        return None
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kit", default="exhibition-v1")
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    kit = load_kit(args.kit)
    with kit_devices(kit) as make_folder:
        for _ in range(args.runs):
            report(kit, "app run", lambda kb: run_app(kit, make_folder, kb))

if __name__ == "__main__":
    main()
