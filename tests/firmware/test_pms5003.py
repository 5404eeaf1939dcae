"""PMS5003/PMS7003 driver and sensor, run under MicroPython: frames, resync, checksum, passive mode,
sleep/wake, timeouts, the simulated chip, and the heap a read costs."""
import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fwsim import run_fw

# An in-memory UART: bytes handed out in the chunks the test chooses, writes recorded. readinto
# copies byte by byte so that it allocates nothing (the heap test measures the driver alone).
FAKE_UART = """
from drivers.pms5003 import PMS5003, convert
from drivers.errors import SensorError, ChecksumError, SensorTimeout
class FakeUART:
    def __init__(self):
        self.rx = bytearray(4096)
        self.n = 0
        self.pos = 0
        self.tx = bytearray()
    def feed(self, data):
        for b in data:
            self.rx[self.n] = b
            self.n += 1
    def any(self):
        return self.n - self.pos
    def readinto(self, buf):
        n = self.n - self.pos
        if n > len(buf):
            n = len(buf)
        if n == 0:
            return None
        for i in range(n):
            buf[i] = self.rx[self.pos + i]
        self.pos += n
        return n
    def write(self, b):
        if self.tx is not None:  # None: the heap test, where recording would allocate
            self.tx.extend(b)
        return len(b)
uart = FakeUART()
drv = PMS5003(uart, timeout_ms=60000)
def drain():
    got = []
    while True:
        try:
            r = drv.read_raw()
        except ChecksumError as e:
            got.append(e.kind)
            continue
        if r is None:
            return got
        got.append(list(r))
"""

# Data frames laid out as in the PMS5003 data manual V2.3, appendix I, with their 16-bit sums
# worked out by hand: 42+4D+1C + the data bytes.
# CF=1 5/7/8, atmospheric 5/7/8, counts 912/271/46/4/2/1, reserved 0x9700 (a PMS7003's version byte).
FRAME_A = "424d001c0005000700080005000700080390010f002e00040002000197000242"
# CF=1 40/60/70 differs from atmospheric 35/52/66 (Plantower's two outputs part above 30 ug/m3).
FRAME_B = "424d001c0028003c004600230034004217700708012c002800090003000002e5"


def frame(words, bad=False):
    f = bytes([0x42, 0x4D, 0x00, 0x1C]) + b"".join(w.to_bytes(2, "big") for w in words)
    s = (sum(f) + (1 if bad else 0)) & 0xFFFF
    return f + s.to_bytes(2, "big")


def words(pm25, counts=0):
    return [pm25, pm25, pm25, pm25, pm25, pm25, counts, counts, counts, counts, counts, counts, 0]


def run_stream(tmp_path, chunks):
    code = FAKE_UART + "res = []\nfor c in %r:\n    uart.feed(bytes.fromhex(c))\n    res.extend(drain())\nout(res)\n" % (
        [c.hex() for c in chunks])
    return run_fw(code, tmp_path, hw={})


def test_datasheet_frames_give_atmospheric_masses_and_counts_per_dl(tmp_path):
    code = FAKE_UART + """
uart.feed(bytes.fromhex(%r))
a = list(drv.read_raw())
b = drv.read()
out([a, list(b), drv.read_raw()])
""" % (FRAME_A + FRAME_B)
    a, b, none = run_fw(code, tmp_path, hw={})
    assert a == [5, 7, 8, 5, 7, 8, 912, 271, 46, 4, 2, 1, 0x9700]
    assert b == [35, 52, 66, 6000, 1800, 300, 40, 9, 3]  # atmospheric PM1/2.5/10, then the six counts
    assert none is None


def test_command_bytes_match_the_datasheet(tmp_path):
    code = FAKE_UART + """
res = []
for call in (drv.request_read, lambda: drv.set_passive(True), lambda: drv.set_passive(False), drv.sleep, drv.wake):
    uart.tx = bytearray()
    call()
    res.append(bytes(uart.tx).hex())
out(res)
"""
    assert run_fw(code, tmp_path, hw={}) == [
        "424de200000171",  # read in passive mode
        "424de100000170",  # change mode: passive
        "424de100010171",  # change mode: active
        "424de400000173",  # sleep
        "424de400010174",  # wake up
    ]


def test_partial_frames_across_calls(tmp_path):
    stream = frame(words(10)) + frame(words(11))
    got = run_stream(tmp_path, [stream[i:i + 1] for i in range(len(stream))])
    assert [g[4] for g in got] == [10, 11]


def test_checksum_error_is_typed_counted_and_parsing_goes_on(tmp_path):
    stream = frame(words(10)) + frame(words(11), bad=True) + frame(words(12))
    code = FAKE_UART + """
uart.feed(bytes.fromhex(%r))
res = [drv.read_raw()[4]]
try:
    drv.read_raw()
    res.append("no error")
except SensorError as e:
    res.append([type(e).__name__, e.kind, e.sensor])
res.append(drv.read_raw()[4])
res.append(drv.checksum_errors)
out(res)
""" % stream.hex()
    assert run_fw(code, tmp_path, hw={}) == [10, ["ChecksumError", "checksum", "pms5003"], 12, 1]


def test_command_answers_are_kept_apart_from_data(tmp_path):
    answer = bytes.fromhex("424d0004e1000174")  # answer to "passive mode": 42+4D+04+E1 = 0x174
    code = FAKE_UART + "uart.feed(bytes.fromhex(%r))\nout([drv.read_raw()[4], drv.answers, list(drv.answer), drv.read_raw()])\n" % (
        answer + frame(words(9))).hex()
    assert run_fw(code, tmp_path, hw={}) == [9, 1, list(answer), None]


def test_resync_after_garbage_false_start_and_bad_length(tmp_path):
    # garbage, a false start "42 4D 00 99" (no such length), a doubled start byte, then frames
    stream = b"\x01\x4d\x42" + b"\x42\x4d\x00\x99" + b"\x42" + frame(words(21)) + b"\x42\x42" + frame(words(22))
    got = run_stream(tmp_path, [stream[:5], stream[5:40], stream[40:]])
    assert [g[4] for g in got] == [21, 22]


def test_frame_hidden_behind_a_broken_one_is_found(tmp_path):
    # A frame cut short by a reset, then a full one: the bytes of the second are not lost.
    good = frame(words(33))
    stream = good[:12] + good
    got = run_stream(tmp_path, [stream])
    assert [g for g in got if g != "checksum"][-1][4] == 33


def test_unanswered_requests_time_out_however_often_they_are_repeated(tmp_path):
    code = FAKE_UART + """
import time
drv.timeout_ms = 60
res = []
t0 = time.ticks_ms()
while time.ticks_diff(time.ticks_ms(), t0) < 200:
    drv.request_read()
    try:
        drv.read_raw()
    except SensorTimeout as e:
        res.append(e.kind)
        break
    time.sleep_ms(15)
out(res)
"""
    assert run_fw(code, tmp_path, hw={}) == ["timeout"]


def test_read_raw_allocates_nothing(tmp_path):
    code = FAKE_UART + """
import gc
for i in range(20):
    uart.feed(bytes.fromhex(%r))
drv.read_raw()
uart.tx = None
def measured():
    # in a function: a for-range loop at module level would allocate its range object
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    n = 0
    for i in range(19):
        if drv.read_raw() is not None:
            n += 1
    drv.read_raw()
    drv.request_read()
    b = gc.mem_alloc()
    gc.enable()
    return [n, b - a]
out(measured())
""" % FRAME_B
    assert run_fw(code, tmp_path, hw={}) == [19, 0]


_word = st.integers(0, 0xFFFF).filter(lambda v: 0x42 not in (v >> 8, v & 0xFF))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    parts=st.lists(st.tuples(st.binary(max_size=40), _word, _word, st.booleans()), min_size=1, max_size=6),
    cuts=st.lists(st.integers(1, 50), max_size=20),
)
def test_parser_recovers_every_valid_frame_from_any_stream(tmp_path, parts, cuts):
    """Garbage between frames: never crashes, only typed errors, and every valid frame whose words
    hold no start byte comes out in order (garbage may still forge extra frames)."""
    stream = b""
    expected = []
    for garbage, pm, count, bad in parts:
        w = [pm, pm, pm, pm, pm, pm, count, count, count, count, count, count, 0]
        stream += garbage + frame(w, bad=bad)
        if not bad:
            expected.append(w)
    chunks, pos = [], 0
    for c in cuts:
        chunks.append(stream[pos:pos + c])
        pos += c
    chunks.append(stream[pos:])
    got = [g for g in run_stream(tmp_path, chunks) if g != "checksum"]
    it = iter(got)
    assert all(e in it for e in expected), (expected, got)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.tuples(st.binary(max_size=30).map(lambda b: b.replace(b"\x42", b"")), _word, st.booleans()),
                      min_size=1, max_size=6))
def test_parser_exact_when_garbage_has_no_start_byte(tmp_path, parts):
    stream = b""
    expected = []
    for garbage, pm, bad in parts:
        stream += garbage + frame(words(pm), bad=bad)
        expected.append("checksum" if bad else words(pm))
    assert run_stream(tmp_path, [stream]) == expected


# -- the simulated chip --------------------------------------------------------------------------

SIM = """
import time, machine
from drivers.pms5003 import PMS5003
from drivers.errors import SensorError
uart = machine.UART(2, baudrate=9600, timeout=0)
dev = uart.device
drv = PMS5003(uart, timeout_ms=400)
def take():
    got = []
    while True:
        try:
            r = drv.read_raw()
        except SensorError as e:
            got.append(e.kind)
            if e.kind == "timeout":
                return got
            continue
        if r is None:
            return got
        got.append(list(r))
"""


def test_simulated_chip_streams_then_answers_only_when_asked(tmp_path):
    code = SIM + """
time.sleep_ms(350)
active = take()
drv.set_passive(True)
time.sleep_ms(50)
drv.flush()
time.sleep_ms(350)
quiet = take()
drv.request_read()
time.sleep_ms(80)
asked = take()
drv.sleep()
time.sleep_ms(50)
drv.request_read()
time.sleep_ms(80)
asleep = take()
sleep_answer = list(drv.answer)
drv.wake()
drv.request_read()
time.sleep_ms(80)
woken = take()
out({"active": active, "quiet": quiet, "asked": asked, "asleep": asleep, "woken": woken,
     "sleep_answer": sleep_answer, "commands": dev.commands, "chip": dev.chip})
"""
    hw = {"uart": {"2": {"chip": "pms7003", "period_s": 0.1}}}
    res = run_fw(code, tmp_path, hw=hw)
    assert 2 <= len(res["active"]) <= 4  # active mode (power-up default): one frame per period
    assert res["quiet"] == []  # passive: nothing unasked
    assert len(res["asked"]) == 1
    w = res["asked"][0]
    assert 0 < w[4] < 300 and w[3] <= w[4] <= w[5]  # PM1 <= PM2.5 <= PM10 (atmospheric)
    assert w[6] >= w[7] >= w[8] >= w[9] >= w[10] >= w[11]  # cumulative counts
    assert w[12] == 0x9700  # a PMS7003's version byte
    assert res["asleep"] == []
    assert res["sleep_answer"] == [0x42, 0x4D, 0, 4, 0xE4, 0, 0x01, 0x77]
    assert len(res["woken"]) == 1  # the mode survived the sleep
    # every command is heard; the request made while asleep got no frame
    assert res["commands"] == [[0xE1, 0], [0xE2, 0], [0xE4, 0], [0xE2, 0], [0xE4, 1], [0xE2, 0]]


def test_simulated_faults(tmp_path):
    code = SIM + """
drv.set_passive(True)
time.sleep_ms(30)
drv.flush()
res = []
for i in range(6):
    drv.request_read()
    time.sleep_ms(60)
    res.extend(take())
out(res)
"""
    hw = {"uart": {"2": {"chip": "pms5003", "faults": {"checksum_error_every": 3, "garbage_every": 2}}}}
    res = run_fw(code, tmp_path, hw=hw)
    assert [r if r == "checksum" else "frame" for r in res] == ["frame", "frame", "checksum"] * 2
    for faults in ({"silent": True}, {"unplugged": True}):
        code = SIM + "drv.set_passive(True)\ndrv.request_read()\ntime.sleep_ms(450)\nout(take())\n"
        assert run_fw(code, tmp_path, hw={"uart": {"2": {"chip": "pms5003", "faults": faults}}}) == ["timeout"]


# -- the sensor layer ----------------------------------------------------------------------------

KIT = {
    "id": "air-indoor-v1",
    "buses": {"uart_pm": {"type": "uart", "id": 2, "tx": 17, "rx": 16, "baudrate": 9600}},
    "sensors": [{"type": "pms5003", "bus": "uart_pm"}],
}
FAST = {"interval_s": 10, "average_s": 1, "sample_period_s": 0.25, "warmup_s": 0}
CYCLE = """
import json, asyncio, gc, machine
import board, sensors
kit = json.loads(%r)
buses = board.make_buses(kit)
sampler = sensors.build(kit, buses, json.loads(%r))
values, flags, errors = {}, {}, []
def cycle():
    values.clear(); flags.clear(); errors.clear()
    asyncio.run(sampler.measure(values, flags, errors))
"""


def cycle(tmp_path, hw, body="cycle()\nout({'values': values, 'flags': flags, 'errors': errors, 'q': sampler.quantities})\n",
          kit=KIT, sampling=FAST):
    return run_fw(CYCLE % (json.dumps(kit), json.dumps(sampling)) + body, tmp_path, hw=hw)


HW = {"uart": {"2": {"chip": "pms5003", "faults": {}}}, "i2c": {}}


def test_cycle_gives_masses_and_counts_with_the_fan_on_only_while_measuring(tmp_path):
    body = """
dev = buses["uart_pm"].device
cycle()
out({'values': values, 'flags': flags, 'errors': errors, 'q': sampler.quantities,
     'awake': dev.awake, 'commands': dev.commands})
"""
    res = cycle(tmp_path, HW, body=body)
    assert res["q"] == ["pm1", "pm2_5", "pm10", "pn_gt0_3", "pn_gt0_5", "pn_gt1_0", "pn_gt2_5", "pn_gt5_0", "pn_gt10"]
    assert set(res["values"]) == set(res["q"]) and res["flags"] == {} and res["errors"] == []
    v = res["values"]
    assert 0 < v["pm1"] <= v["pm2_5"] <= v["pm10"] < 300
    assert v["pn_gt0_3"] > v["pn_gt0_5"] > v["pn_gt2_5"] >= v["pn_gt10"]
    assert res["awake"] is False
    cmds = [tuple(c) for c in res["commands"]]
    assert cmds[:2] == [(0xE4, 1), (0xE1, 0)] and cmds[-1] == (0xE4, 0)  # wake, passive ... sleep
    assert cmds.count((0xE2, 0)) == 5  # a request at the start of the window and after each of 4 samples


def test_type_pms7003_reports_under_its_own_name(tmp_path):
    kit = copy.deepcopy(KIT)
    kit["sensors"][0]["type"] = "pms7003"
    res = cycle(tmp_path, {"uart": {}, "i2c": {}}, kit=kit)
    assert res["errors"] == [{"sensor": "pms7003", "error": "timeout"}] and res["values"] == {}


def test_checksum_errors_are_reported_and_good_frames_averaged(tmp_path):
    hw = copy.deepcopy(HW)
    hw["uart"]["2"]["faults"] = {"checksum_error_every": 2}
    res = cycle(tmp_path, hw, sampling={**FAST, "average_s": 2})
    assert res["errors"] == [{"sensor": "pms5003", "error": "checksum"}]
    assert "pm2_5" in res["values"] and "pm2_5" not in res["flags"]


def test_unplugged_sensor_times_out(tmp_path):
    hw = copy.deepcopy(HW)
    hw["uart"]["2"]["faults"] = {"unplugged": True}
    res = cycle(tmp_path, hw, sampling={**FAST, "average_s": 3.5, "sample_period_s": 0.5})
    assert res["errors"] == [{"sensor": "pms5003", "error": "timeout"}] and res["values"] == {}


def test_default_warmup_is_the_datasheets_30_s(tmp_path):
    body = "out([s.warmup_ms for s in sampler._sensors])\n"
    assert cycle(tmp_path, HW, body=body, sampling={"average_s": 1, "sample_period_s": 1}) == [30000]
