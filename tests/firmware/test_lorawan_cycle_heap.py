"""The heap one measure-and-send cycle needs over LoRaWAN, as tests/firmware/test_cycle_heap.py measures
it over Wi-Fi: the real app under MicroPython, join (simulated LoRa-E5), measure, spool, one confirmed
uplink acknowledged by a fake network, less the harness and the simulated hardware (the modem model
included). Figures go to test-artifacts/heap-<kit>-lorawan.json; the Wi-Fi figure of the same kit
comes from test_cycle_heap.py.

Measured (unix port, 64-bit): air-outdoor-v1 101.5 KB over LoRaWAN against 93.6 KB over Wi-Fi, noise-v1
95.9 against 84.0; what stays in use after the cycle is the same (79.1 against 78.5 KB). Only the
simulated modem's static size is subtracted: its transient allocations (the JSON lines and socket
reads of its radio side, the reply lines it queues) count as firmware here, so the LoRaWAN figure is
an upper bound."""
import json
from pathlib import Path

import pytest

from datacityzen.sim.runner import FIRMWARE_HEAP_KB, SIM_HEAP_KB, load_kit, prepare_device
from fwsim import compiled_dir
from mpy import run_mpy
from test_cycle_heap import CYCLE, _i2s_rate, complete, smallest_heap_kb
from test_lorawan_link import FakeNetwork

# the modem is simulated hardware too: built with the chips, so its share is subtracted
LORA_CYCLE = CYCLE.replace("""    return out
models = chips()""", """    if hw.get("lorawan"):
        import socket, lora_e5_model
        out.append(machine._model(dict(hw["lorawan"], chip="lora_e5")))
    return out
models = chips()""")


def run_cycle(kit, make_folder, heap_kb):
    folder = make_folder()
    code = LORA_CYCLE.replace("I2S_RATE", str(_i2s_rate(kit)))
    proc = run_mpy(code, cwd=folder, heapsize=f"{heap_kb}K", extra_path=(compiled_dir(),), check=False, timeout=60)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return None


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
                       lorawan=(link, modem))
        return folder

    def works(kb):
        return complete(run_cycle(kit, make_folder, kb))

    try:
        full = run_cycle(kit, make_folder, SIM_HEAP_KB)
        assert complete(full), f"{kit_id}: no complete LoRaWAN cycle in the simulator's heap: {full}"
        lo = full["steady"] // 1024
        hi = min(lo + 16, SIM_HEAP_KB)
        if not works(hi):
            lo, hi = hi, SIM_HEAP_KB
        min_heap = smallest_heap_kb(works, lo, hi)
    finally:
        net.close()
    not_firmware = full["harness"] + full["sim_hw"]
    report = {
        "kit": kit_id, "link": "lorawan",
        "min_heap_kb_with_sim_hw": min_heap,
        "harness_kb": round(full["harness"] / 1024, 1),
        "sim_hw_kb": round(full["sim_hw"] / 1024, 1),
        "firmware_cycle_kb": round(min_heap - not_firmware / 1024, 1),
        "firmware_steady_kb": round((full["steady"] - not_firmware) / 1024, 1),
    }
    print("heap figure:", json.dumps(report))
    out = Path(__file__).resolve().parents[2] / "test-artifacts"
    out.mkdir(exist_ok=True)
    (out / f"heap-{kit_id}-lorawan.json").write_text(json.dumps(report, indent=1))
    assert any(f["op"] == "up" and f["confirmed"] for f in net.frames)  # the reading went on air
    assert report["firmware_cycle_kb"] < FIRMWARE_HEAP_KB, report
