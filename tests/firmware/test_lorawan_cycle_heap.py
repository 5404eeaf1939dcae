"""The heap one measure-and-send cycle needs over LoRaWAN, measured as tests/firmware/test_cycle_heap.py
measures it over Wi-Fi: the firmware from a ROMFS image, the real app under MicroPython, join
(simulated LoRa-E5), measure, spool, one confirmed uplink acknowledged by a fake network; less the
harness, the image and the simulated hardware (the modem model included). The clock is set, as after the
boot's DeviceTimeReq (a LoRaWAN device powers up with it unset and no NTP; tests/firmware/test_link_clock.py
and tests/test_lorawan_e2e.py cover that exchange): the cycle is the steady one. With the exchange in
the cycle noise-v1 measured 63.2 KB in most runs and 68.2 in some (the heap's fragmentation). Figures go to
test-artifacts/heap-<kit>-lorawan.json, beside the Wi-Fi figure of the same kit (heap-<kit>.json).
Measured: air-outdoor-v1 61.8 KB (Wi-Fi 62.1), noise-v1 62.2 (Wi-Fi 62.5); 54.1 and 54.9 KB stay in use.

Only the simulated modem's static size is subtracted: its transient allocations (the JSON lines and
socket reads of its radio side, the reply lines it queues) count as firmware here, so the LoRaWAN
figure is an upper bound.
"""
import json
from pathlib import Path

import pytest

from datacityzen.sim.runner import FIRMWARE_HEAP_KB, SIM_HEAP_KB, load_kit, prepare_device
import test_cycle_heap
from test_cycle_heap import CYCLE, GOAL_KB, complete, rom_kb, smallest_heap_kb
from test_lorawan_link import FakeNetwork

# the modem is simulated hardware too: built with the chips, so its share is subtracted
LORA_CYCLE = CYCLE.replace("""    return out
models = chips()""", """    if hw.get("lorawan"):
        import socket, lora_e5_model
        out.append(machine._model(dict(hw["lorawan"], chip="lora_e5")))
    return out
models = chips()""")


def run_cycle(kit, make_folder, heap_kb, rom=True):
    """test_cycle_heap.run_cycle with the LoRaWAN script."""
    return test_cycle_heap.run_cycle(kit, make_folder, heap_kb, rom, script=LORA_CYCLE)


@pytest.mark.slow
@pytest.mark.parametrize("kit_id", ["air-outdoor-v1", "noise-v1"])
def test_one_lorawan_cycle_fits_the_esp32_heap(kit_id, tmp_path):
    assert "lora_e5" in LORA_CYCLE
    kit = load_kit(kit_id)
    net = FakeNetwork()
    runs = iter(range(1000))

    def make_folder():
        folder = tmp_path / f"dev{next(runs)}"
        link = {"airtime_ms_per_day": 30000, "confirmed_per_day": 10}
        modem = {"uart": 1, "ns": ["127.0.0.1", net.port], "join_s": 0.05}
        prepare_device(folder, "heap-lw-01", kit, ("127.0.0.1", 1), 2, None, seed=3, link="lorawan",
                       lorawan=(link, modem), clock={"offset_s": 0})  # set, as after the boot's DeviceTimeReq
        return folder

    def works(kb):
        return complete(run_cycle(kit, make_folder, kb))

    try:
        files = run_cycle(kit, make_folder, SIM_HEAP_KB, rom=False)  # as the simulator runs it
        assert complete(files), f"{kit_id}: no complete LoRaWAN cycle in the simulator's heap: {files}"
        full = run_cycle(kit, make_folder, SIM_HEAP_KB)
        assert complete(full), f"{kit_id}: no complete LoRaWAN cycle from the ROMFS image: {full}"
        image = full["rom_image"]
        lo = (full["steady"] - image) // 1024
        hi = min(lo + 16, SIM_HEAP_KB)
        if not works(hi):
            lo, hi = hi, SIM_HEAP_KB
        min_heap = smallest_heap_kb(works, lo, hi) + rom_kb()
    finally:
        net.close()
    assert any(f["op"] == "up" and f["confirmed"] for f in net.frames)  # the reading went on air
    not_firmware = full["harness"] + image + full["sim_hw"]
    report = {
        "kit": kit_id, "link": "lorawan",
        "min_heap_kb_with_sim_hw": min_heap,
        "harness_kb": round(full["harness"] / 1024, 1),
        "rom_image_kb": round(image / 1024, 1),
        "sim_hw_kb": round(full["sim_hw"] / 1024, 1),
        "firmware_cycle_kb": round(min_heap - not_firmware / 1024, 1),
        "firmware_steady_kb": round((full["steady"] - not_firmware) / 1024, 1),
        "goal_kb": GOAL_KB,
    }
    report["meets_goal"] = report["firmware_cycle_kb"] < GOAL_KB
    print("heap figure:", json.dumps(report))
    out = Path(__file__).resolve().parents[2] / "test-artifacts"
    out.mkdir(exist_ok=True)
    (out / f"heap-{kit_id}-lorawan.json").write_text(json.dumps(report, indent=1))
    # as over Wi-Fi, these kits meet the project's 64 KB goal over LoRaWAN too (56.9 and 55.3 KB)
    assert report["firmware_cycle_kb"] < min(GOAL_KB, FIRMWARE_HEAP_KB), report
