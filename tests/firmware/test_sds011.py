"""SDS011 driver, run under MicroPython: frames, resync, checksum errors, commands, timeouts."""

from hypothesis import given, settings, HealthCheck
from hypothesis import strategies as st

from fwsim import run_fw

# An in-memory UART: bytes handed out in the chunks the test chooses, writes recorded.
FAKE_UART = """
from drivers.sds011 import SDS011
from drivers.errors import SensorError, ChecksumError, SensorTimeout
class FakeUART:
    def __init__(self):
        self.rx = bytearray()
        self.pos = 0
        self.tx = bytearray()
    def feed(self, data):
        self.rx.extend(data)
    def any(self):
        return len(self.rx) - self.pos
    def readinto(self, buf):
        n = min(len(buf), len(self.rx) - self.pos)
        if n == 0:
            return None
        buf[:n] = self.rx[self.pos:self.pos + n]
        self.pos += n
        return n
    def write(self, b):
        self.tx.extend(b)
        return len(b)
uart = FakeUART()
drv = SDS011(uart, timeout_ms=60000)
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


def frame(pm25_x10, pm10_x10, ident=0xA160, bad=False):
    d = [pm25_x10 & 0xFF, pm25_x10 >> 8, pm10_x10 & 0xFF, pm10_x10 >> 8, ident >> 8, ident & 0xFF]
    cs = (sum(d) + (1 if bad else 0)) & 0xFF
    return bytes([0xAA, 0xC0, *d, cs, 0xAB])


def run_stream(tmp_path, chunks):
    code = FAKE_UART + "chunks = %r\nres = []\nfor c in chunks:\n    uart.feed(bytes.fromhex(c))\n    res.extend(drain())\nout(res)\n" % (
        [c.hex() for c in chunks])
    return run_fw(code, tmp_path, hw={})


def test_data_frame_parsed_in_ug_per_m3(tmp_path):
    # 123.6 and 261.8 ug/m3, device id A1 60, checksum 0x1D (sum of the six data bytes = 0x21D)
    raw = bytes.fromhex("AAC0D4043A0AA1601DAB")
    code = FAKE_UART + "uart.feed(bytes.fromhex(%r))\nr = drv.read()\nout([r[0], r[1], drv.device_id, drv.read()])\n" % raw.hex()
    assert run_fw(code, tmp_path, hw={}) == [123.6, 261.8, 0xA160, None]


def test_partial_frames_across_calls(tmp_path):
    stream = frame(100, 200) + frame(101, 201)
    assert run_stream(tmp_path, [stream[i:i + 1] for i in range(len(stream))]) == [[100, 200], [101, 201]]


def test_resync_after_garbage_and_false_header(tmp_path):
    # garbage, then a false start "AA C0 01" that swallows the next real header
    stream = b"\x01\x02\xab\xaa" + b"\xaa\xc0\x01" + frame(55, 66) + b"\xc0\xab" + frame(56, 67)
    assert run_stream(tmp_path, [stream[:7], stream[7:15], stream[15:]]) == [[55, 66], [56, 67]]


def test_checksum_error_is_typed_and_parsing_goes_on(tmp_path):
    stream = frame(10, 20) + frame(11, 21, bad=True) + frame(12, 22)
    code = FAKE_UART + """
uart.feed(bytes.fromhex(%r))
res = [list(drv.read_raw())]
try:
    drv.read_raw()
    res.append("no error")
except SensorError as e:
    res.append([type(e).__name__, e.kind, e.sensor, isinstance(e, ChecksumError)])
res.append(list(drv.read_raw()))
res.append(drv.checksum_errors)
out(res)
""" % stream.hex()
    assert run_fw(code, tmp_path, hw={}) == [[10, 20], ["ChecksumError", "checksum", "sds011", True], [12, 22], 1]


def test_reply_frames_are_not_data(tmp_path):
    d = [0x06, 0x01, 0x00, 0x00, 0xA1, 0x60]
    reply = bytes([0xAA, 0xC5, *d, sum(d) & 0xFF, 0xAB])
    code = FAKE_UART + "uart.feed(bytes.fromhex(%r))\nout([drv.read_raw(), drv.replies, list(drv.reply)])\n" % reply.hex()
    assert run_fw(code, tmp_path, hw={}) == [None, 1, list(reply)]


def test_command_bytes_match_datasheet(tmp_path):
    code = FAKE_UART + """
res = []
for call in (drv.sleep, drv.wake, lambda: drv.set_reporting_mode(True), lambda: drv.set_reporting_mode(False), drv.query):
    uart.tx = bytearray()
    call()
    res.append(bytes(uart.tx).hex())
out(res)
"""
    ff = "00" * 10 + "ffff"
    assert run_fw(code, tmp_path, hw={}) == [
        "aab4060100" + ff + "05ab",  # set sleep (protocol V1.3 example)
        "aab4060101" + ff + "06ab",  # set work
        "aab4020100" + ff + "01ab",  # active reporting mode
        "aab4020101" + ff + "02ab",  # query reporting mode
        "aab4040000" + ff + "02ab",  # query data
    ]


def test_timeout_when_no_frame(tmp_path):
    code = FAKE_UART + """
import time
drv.timeout_ms = 50
first = drv.read_raw()
time.sleep_ms(80)
try:
    drv.read_raw()
    out([first, "no error"])
except SensorTimeout as e:
    out([first, e.kind])
"""
    assert run_fw(code, tmp_path, hw={}) == [None, "timeout"]


def test_missing_sensor_on_simulated_uart_times_out(tmp_path):
    code = """
import time, machine
from drivers.sds011 import SDS011
from drivers.errors import SensorTimeout
drv = SDS011(machine.UART(2, baudrate=9600, timeout=0), timeout_ms=300)
drv.wake()
res = []
t0 = time.ticks_ms()
while time.ticks_diff(time.ticks_ms(), t0) < 600:
    try:
        r = drv.read()
    except SensorTimeout as e:
        res.append(e.kind)
        break
    time.sleep_ms(20)
out(res)
"""
    assert run_fw(code, tmp_path, hw={"uart": {}, "i2c": {}}) == ["timeout"]


def test_simulated_sensor_wakes_sleeps_and_answers(tmp_path):
    code = """
import time, machine
from drivers.sds011 import SDS011
uart = machine.UART(2, baudrate=9600, timeout=0)
drv = SDS011(uart)
drv.sleep()
time.sleep_ms(350)
asleep = []
while True:
    r = drv.read()
    if r is None: break
    asleep.append(r)
sleep_reply = list(drv.reply)
drv.wake()
time.sleep_ms(450)
awake = []
while True:
    r = drv.read()
    if r is None: break
    awake.append(r)
out({"asleep": asleep, "awake": awake, "sleep_reply": sleep_reply, "model_awake": uart.device.awake})
"""
    res = run_fw(code, tmp_path, hw={"uart": {"2": {"chip": "sds011", "period_s": 0.1, "device_id": 0xA160}}})
    assert res["asleep"] == []
    assert 3 <= len(res["awake"]) <= 5
    assert all(0 < pm25 < 300 and pm25 <= pm10 for pm25, pm10 in res["awake"])
    d = [6, 1, 0, 0, 0xA1, 0x60]  # reply to "set sleep": mode 0 = sleep
    assert res["sleep_reply"] == [0xAA, 0xC5, *d, sum(d) & 0xFF, 0xAB]
    assert res["model_awake"] is True


def test_simulated_checksum_faults_are_counted(tmp_path):
    code = """
import time, machine
from drivers.sds011 import SDS011
from drivers.errors import ChecksumError
drv = SDS011(machine.UART(2))
good = bad = 0
t0 = time.ticks_ms()
while time.ticks_diff(time.ticks_ms(), t0) < 1050:
    try:
        r = drv.read_raw()
    except ChecksumError:
        bad += 1
        continue
    if r is None:
        time.sleep_ms(30)
    else:
        good += 1
out([good, bad])
"""
    hw = {"uart": {"2": {"chip": "sds011", "period_s": 0.1, "faults": {"checksum_error_every": 3, "garbage_every": 2}}}}
    good, bad = run_fw(code, tmp_path, hw=hw)
    assert 9 <= good + bad <= 11  # one frame per 0.1 s
    assert bad == (good + bad) // 3  # every third frame is corrupted, the others all get through


_pm = st.integers(0, 9999).filter(lambda v: 0xAA not in (v & 0xFF, v >> 8) and 0xAB not in (v & 0xFF, v >> 8))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    parts=st.lists(st.tuples(st.binary(max_size=25), _pm, _pm, st.booleans()), min_size=1, max_size=8),
    cuts=st.lists(st.integers(1, 40), max_size=30),
)
def test_parser_recovers_every_valid_frame_from_any_stream(tmp_path, parts, cuts):
    """Arbitrary garbage between frames: never crashes, only typed errors, and every valid frame whose
    data bytes are not AA/AB comes out in order (garbage may still forge extra frames)."""
    stream = b""
    expected = []
    for garbage, a, b, bad in parts:
        stream += garbage + frame(a, b, ident=0x1234, bad=bad)
        if not bad:
            expected.append([a, b])
    chunks, pos = [], 0
    for c in cuts:
        chunks.append(stream[pos:pos + c])
        pos += c
    chunks.append(stream[pos:])
    got = run_stream(tmp_path, chunks)
    frames = [g for g in got if g != "checksum"]
    it = iter(frames)
    assert all(e in it for e in expected), (expected, got)  # expected is a subsequence
    assert len(got) - len(frames) >= 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.tuples(st.binary(max_size=25).map(lambda b: b.replace(b"\xaa", b"")), _pm, _pm, st.booleans()),
                      min_size=1, max_size=8))
def test_parser_exact_when_garbage_has_no_header_byte(tmp_path, parts):
    stream = b""
    expected = []
    for garbage, a, b, bad in parts:
        stream += garbage + frame(a, b, bad=bad)
        expected.append("checksum" if bad else [a, b])
    assert run_stream(tmp_path, [stream]) == expected
