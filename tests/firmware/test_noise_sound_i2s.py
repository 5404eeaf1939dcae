"""I2S microphones end to end under MicroPython: simulated chips, drivers, board, the sound sensor."""
import json

import pytest

from fwsim import run_fw

KIT = {"id": "noise-test", "buses": {"mic": {"type": "i2s", "id": 0, "sck": 32, "ws": 25, "sd": 33,
                                            "rate": 16000, "ibuf": 12000}},
       "sensors": [{"type": "inmp441", "bus": "mic"}]}
FAST = {"interval_s": 10, "average_s": 1, "sample_period_s": 0.5, "warmup_s": 0}


def hw(chip="inmp441", **mic):
    return {"seed": 3, "uart": {}, "i2c": {"0": {}}, "i2s": {"0": {"chip": chip, **mic}}}


CYCLE = """
import asyncio, board, sensors
kit = json.loads(%r)
buses = board.make_buses(kit)
sampler = sensors.build(kit, buses, json.loads(%r))
values, flags, errors = {}, {}, []
asyncio.run(sampler.measure(values, flags, errors))
out({"values": values, "flags": flags, "errors": errors, "lost": buses["mic"].lost})
"""


def cycle(tmp_path, sim, sensor=None, sampling=FAST):
    kit = json.loads(json.dumps(KIT))
    if sensor:
        kit["sensors"][0].update(sensor)
    return run_fw(CYCLE % (json.dumps(kit), json.dumps(sampling)), tmp_path, hw=sim, heapsize="110K")


@pytest.mark.parametrize("chip", ["inmp441", "ics43434", "sph0645"])
def test_sensor_reports_the_scene_level_with_the_calibration_offset(tmp_path, chip):
    sim = hw(chip, scene={"tone_hz": 1000, "tone_db": 70}, dc_offset=0.01 if chip == "sph0645" else 0)
    res = cycle(tmp_path, sim, {"type": chip, "calibration_db": 1.5})
    v = res["values"]
    assert res["errors"] == [] and res["flags"] == {} and res["lost"] == 0
    assert v["noise_laeq"] == pytest.approx(71.5, abs=0.1)  # a 1 kHz tone reads its SPL, + 1.5 dB
    assert v["noise_lamin"] == pytest.approx(71.5, abs=0.1) and v["noise_lamax"] == pytest.approx(71.5, abs=0.1)


def test_a_clap_raises_lamax_far_above_laeq(tmp_path):
    sim = hw(scene={"noise_db": 45, "clap": {"every_s": 1.0, "db": 100, "decay_ms": 20}})
    v = cycle(tmp_path, sim)["values"]
    # a clap's energy (about 10 ms at 100 dB) dominates LAeq; Fast weighting spreads it over 125 ms
    assert v["noise_lamax"] > v["noise_laeq"] + 3
    assert v["noise_lamin"] < v["noise_laeq"] - 20
    assert 40 < v["noise_lamin"] < 46  # the 45 dB background, A-weighted


def test_chunk_buffer_exists_only_during_a_window(tmp_path):
    """The sound sensor's 1 KB chunk buffer is made when a window starts and dropped when it ends, so
    it is not in the heap while the app spools and publishes the reading."""
    code = CYCLE.replace('out({"values"', 'mic = sampler._sensors[0]\nout({"words": mic._words, "values"')
    kit = json.dumps(KIT)
    res = run_fw(code % (kit, json.dumps(FAST)), tmp_path, hw=hw(), heapsize="110K")
    assert res["words"] is None and res["errors"] == [] and len(res["values"]) == 3


def test_quiet_room_reads_the_microphone_noise_floor(tmp_path):
    res = cycle(tmp_path, hw())  # no scene: only the INMP441's own noise (SNR 61 dB -> 33 dB)
    laeq = res["values"]["noise_laeq"]
    # white self-noise at 33 dB over 0-8 kHz, A-weighted: a little below 33 dB(A)
    assert 28 < laeq < 33.5


@pytest.mark.parametrize("fault", ["zeros", "ones"])
def test_unplugged_microphone_is_reported_absent(tmp_path, fault):
    res = cycle(tmp_path, hw(faults={"unplugged": fault}))
    assert res["values"] == {} and res["errors"] == [{"sensor": "inmp441", "error": "absent"}]


def test_no_microphone_on_the_bus_reads_zeros_and_is_absent(tmp_path):
    res = cycle(tmp_path, {"seed": 3, "uart": {}, "i2c": {"0": {}}, "i2s": {}})
    assert res["errors"] == [{"sensor": "inmp441", "error": "absent"}]


def test_overload_is_flagged_never_clamped(tmp_path):
    res = cycle(tmp_path, hw(scene={"tone_hz": 1000, "tone_db": 125}))
    v, flags = res["values"], res["flags"]
    assert flags["noise_laeq"] == ["overload", "out_of_range"]
    assert v["noise_laeq"] > 120  # what the clipped samples give, reported as measured


DRIVER = """
from array import array
import machine
from drivers.inmp441 import INMP441
from drivers.sph0645 import SPH0645
from drivers.errors import AbsentError
from noise.meter import NoiseMeter
i2s = machine.I2S(0, sck=machine.Pin(32), ws=machine.Pin(25), sd=machine.Pin(33), mode=machine.I2S.RX,
                  bits=32, format=machine.I2S.MONO, rate=16000, ibuf=8000)
mic = CLS(i2s)
words = array("i", [0] * 1600)
raw_low_bits = 0
m = NoiseMeter(16000)
for k in range(10):
    n = mic.read_raw(words)
    for i in range(n):
        raw_low_bits |= words[i] & 0xFF
    first_raw = words[0]
    clipped = mic.convert(words, n)
    m.process(words, n)
    if k == 1:
        m.take()
out({"n": n, "raw_low": raw_low_bits, "first_raw": first_raw, "first": words[0], "levels": m.take(),
     "clipped": clipped, "viper": m.viper})
"""


def test_inmp441_words_are_24_bit_left_justified(tmp_path):
    res = run_fw(DRIVER.replace("CLS", "INMP441"), tmp_path, hw=hw(scene={"tone_hz": 500, "tone_db": 80}))
    assert res["n"] == 1600 and res["raw_low"] == 0 and res["clipped"] == 0 and res["viper"]
    assert res["levels"][0] == pytest.approx(80 - 3.25, abs=0.1)  # A(500 Hz) = -3.2 dB


def test_sph0645_quirk_is_undone(tmp_path):
    res = run_fw(DRIVER.replace("CLS", "SPH0645"), tmp_path, hw=hw("sph0645", scene={"tone_hz": 500, "tone_db": 80}))
    # on the line: the 18-bit code shifted one bit too far left, 14 low bits zero
    assert res["first_raw"] & 0x7FFF == 0
    assert res["first"] == (res["first_raw"] >> 1) & -16384
    assert res["levels"][0] == pytest.approx(80 - 3.25, abs=0.1)


def test_sph0645_without_the_fix_would_read_6_db_high(tmp_path):
    code = DRIVER.replace("CLS", "SPH0645").replace("mic = SPH0645(i2s)", "mic = SPH0645(i2s, quirk=False)")
    res = run_fw(code, tmp_path, hw=hw("sph0645", scene={"tone_hz": 500, "tone_db": 80}))
    assert res["levels"][0] == pytest.approx(80 - 3.25 + 6.02, abs=0.1)


MODES = """
import time, machine
from array import array
i2s = machine.I2S(0, sck=machine.Pin(32), ws=machine.Pin(25), sd=machine.Pin(33), mode=machine.I2S.RX,
                  bits=32, format=machine.I2S.MONO, rate=16000, ibuf=4000)
buf = array("i", [0] * 1600)             # 100 ms at 16 kHz
t0 = time.ticks_ms()
n = i2s.readinto(buf)
blocking_ms = time.ticks_diff(time.ticks_ms(), t0)
done = []
i2s.irq(lambda obj: done.append(time.ticks_ms()))
for i in range(1600):
    buf[i] = 0
t0 = time.ticks_ms()
n2 = i2s.readinto(buf)
returned_ms = time.ticks_diff(time.ticks_ms(), t0)
while not done and time.ticks_diff(time.ticks_ms(), t0) < 2000:
    time.sleep_ms(5)
callback_ms = time.ticks_diff(done[0], t0) if done else None
filled = sum(1 for i in range(1600) if buf[i] != 0)
i2s.irq(None)
time.sleep_ms(600)                       # 9600 samples arrive; the 1000-word buffer keeps the newest
i2s.readinto(buf)
out({"n": n, "blocking_ms": blocking_ms, "n2": n2, "returned_ms": returned_ms, "callback_ms": callback_ms,
     "filled": filled, "lost": i2s.lost})
"""


def test_readinto_blocking_non_blocking_and_overrun(tmp_path):
    res = run_fw(MODES, tmp_path, hw=hw())
    assert res["n"] == 6400 and 80 <= res["blocking_ms"] <= 200  # waits for 100 ms of sound
    assert res["n2"] == 6400 and res["returned_ms"] < 20  # non-blocking: returns at once
    assert 80 <= res["callback_ms"] <= 300 and res["filled"] > 1500  # ... filled, then the callback
    assert res["lost"] > 5000  # the reader was away for 600 ms with a 62 ms buffer


def test_board_builds_i2s_and_checks_its_keys(tmp_path):
    code = """
import board
kit = json.loads(%r)
b = board.make_buses(kit)
res = [type(b["mic"]).__name__, board.rate_of(b["mic"]), board.ibuf_of(b["mic"])]
del kit["buses"]["mic"]["rate"]
try:
    board.make_buses(kit)
except ValueError as e:
    res.append(str(e))
kit["buses"]["mic"]["rate"] = 16000
kit["buses"]["mic"]["sd"] = 32
try:
    board.make_buses(kit)
except ValueError as e:
    res.append(str(e))
out(res)
""" % json.dumps(KIT)
    res = run_fw(code, tmp_path, hw=hw())
    assert res[:3] == ["I2S", 16000, 12000]
    assert res[3] == "kit noise-test: bus mic needs 'rate'"
    assert res[4] == "kit noise-test: pin 32 used twice (mic.sck, mic.sd)"
