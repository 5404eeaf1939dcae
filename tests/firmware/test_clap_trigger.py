"""The simulated microphone claps on demand: touching the device's trigger file (the exhibition's
"measure it yourself" rehearsal) makes the real sound sensor's LAmax jump in the next window."""
from fwsim import run_fw

KIT = {"id": "clap-test", "buses": {"mic": {"type": "i2s", "id": 0, "sck": 32, "ws": 25, "sd": 33,
                                           "rate": 16000, "ibuf": 12000}},
       "sensors": [{"type": "inmp441", "bus": "mic"}]}
SAMPLING = {"interval_s": 10, "average_s": 1, "sample_period_s": 0.5, "warmup_s": 0}

CYCLES = """
import asyncio, board, sensors
kit = json.loads(%r)
buses = board.make_buses(kit)
sampler = sensors.build(kit, buses, json.loads(%r))
levels = []
for touch in (False, False, True, False):
    if touch:
        with open("clap", "w") as f:
            f.write("now")
    values, flags, errors = {}, {}, []
    asyncio.run(sampler.measure(values, flags, errors))
    levels.append(values["noise_lamax"])
out(levels)
"""


def run_cycles(tmp_path, clap):
    hw = {"seed": 3, "uart": {}, "i2c": {"0": {}},
          "i2s": {"0": {"chip": "inmp441", "scene": {"noise_db": 50, "clap": clap}}}}
    import json
    return run_fw(CYCLES % (json.dumps(KIT), json.dumps(SAMPLING)), tmp_path, hw=hw, heapsize="110K")


def test_touching_the_trigger_file_claps_once(tmp_path):
    quiet1, quiet2, clap, after = run_cycles(tmp_path, {"db": 100, "decay_ms": 40, "trigger_file": "clap"})
    assert abs(quiet1 - quiet2) < 2  # a steady hall
    assert clap > quiet2 + 20  # the clap, well beyond the exhibition's 10 dB threshold
    assert abs(after - quiet2) < 2  # once: the file unchanged since, no new clap


def test_without_a_trigger_file_configured_the_file_does_nothing(tmp_path):
    levels = run_cycles(tmp_path, {"db": 100, "decay_ms": 40})
    assert max(levels) - min(levels) < 2
