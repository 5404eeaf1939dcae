"""SPS30 driver and sensor, run under MicroPython: CRC-8, command bytes, measured values in floats
and in fixed point, errors, sleep/wake-up, fan cleaning, the simulated chip, and heap use."""
import copy
import json
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fwsim import run_fw


def crc8(data):
    """Sensirion CRC-8, written from the datasheet's table (poly 0x31, init 0xFF, no reflection)."""
    crc = 0xFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def with_crcs(data):
    out = bytearray()
    for i in range(0, len(data), 2):
        out += data[i:i + 2] + bytes([crc8(data[i:i + 2])])
    return bytes(out)


def test_reference_crc_matches_the_datasheet_check_value():
    assert crc8(b"\xbe\xef") == 0x92  # datasheet 1.0, section 6.2
    assert crc8(b"\x03\x00") == 0xAC  # the start-measurement argument of section 6.3.1


# A fake I2C recording every write and answering reads from a queue of prepared byte strings; its
# readfrom_into copies byte by byte, so it allocates nothing and the heap test sees the driver alone.
FAKE_I2C = """
from drivers.sps30 import SPS30, crc8, fixed_from_float_bits
from drivers.errors import SensorError, ChecksumError, AbsentError, InvalidDataError
class FakeI2C:
    def __init__(self, answers, present=True):
        self.answers = [bytes.fromhex(a) for a in answers]
        self.i = 0
        self.tx = []
        self.present = present
        self.record = True
    def writeto(self, addr, buf):
        if not self.present:
            raise OSError(19)
        if self.record:
            self.tx.append(bytes(buf).hex())
        return 1
    def readfrom_into(self, addr, buf):
        if not self.present:
            raise OSError(19)
        a = self.answers[self.i]
        self.i += 1
        if self.i == len(self.answers):
            self.i = 0
        for k in range(len(buf)):
            buf[k] = a[k]
PRODUCT = %r
"""
PRODUCT = with_crcs(b"00080000").hex()
VALUES = (12.5, 20.25, 23.0, 31.75, 80.5, 95.0, 99.25, 99.5, 100.0, 0.625)


def measured(values=VALUES):
    return with_crcs(struct.pack(">10f", *values)).hex()


def run(tmp_path, body, answers=(), present=True):
    code = FAKE_I2C % PRODUCT + "i2c = FakeI2C([PRODUCT] + %r, %r)\n" % (list(answers), present) + body
    return run_fw(code, tmp_path, hw={})


def test_driver_crc_and_fixed_point_on_edge_values(tmp_path):
    body = """
res = [crc8(b"\\xbe\\xef"), crc8(b"\\x03\\x00"), crc8(b"\\x00\\x00")]
for b in ("41480000", "3f000000", "3f800000", "c1480000", "00000001", "00000000", "447a0000", "4b000001"):
    v = bytes.fromhex(b)
    res.append(fixed_from_float_bits(v[0], v[1], v[2], v[3], 100))
try:
    fixed_from_float_bits(0x7f, 0xc0, 0, 0, 100)
except InvalidDataError as e:
    res.append(e.kind)
out(res)
"""
    assert run(tmp_path, body) == [0x92, 0xAC, 0x81, 1250, 50, 100, -1250, 0, 0, 100000, 838860900, "invalid"]


def test_command_bytes_match_the_datasheet(tmp_path):
    body = """
drv = SPS30(i2c)
i2c.tx = []
res = [drv.start_measurement(), drv.stop_measurement(), drv.start_fan_cleaning(), drv.sleep(), drv.reset()]
out([res, i2c.tx])
"""
    waits, tx = run(tmp_path, body)
    assert waits == [20, 20, 10000, 5, 100]
    assert tx == ["00100300ac", "0104", "5607", "1001", "d304"]


def test_product_type_is_checked_and_a_missing_chip_is_absent(tmp_path):
    body = """
res = []
try:
    SPS30(i2c)
except AbsentError as e:
    res.append([e.kind, "product type" in str(e)])
i2c.present = False
try:
    SPS30(i2c)
except AbsentError as e:
    res.append([e.kind, "no ack" in str(e)])
out([res, i2c.tx])
"""
    other = with_crcs(b"00090000").hex()
    code = FAKE_I2C % other + "i2c = FakeI2C([PRODUCT])\n" + body
    res, tx = run_fw(code, tmp_path, hw={})
    assert res == [["absent", True], ["absent", True]]
    assert tx == ["d002"]


def test_measured_values_in_floats_and_fixed_point(tmp_path):
    body = """
drv = SPS30(i2c)
ready = drv.data_ready()
floats = list(drv.read())
fixed = drv.convert_fixed(drv.read_raw(), [0] * 10, (100,) * 9 + (1000,))
out([ready, floats, fixed, i2c.tx])
"""
    ready, floats, fixed, tx = run(tmp_path, body, answers=[with_crcs(b"\x00\x01").hex(), measured(), measured()])
    assert ready is True
    assert floats == list(VALUES)  # every value is exact in single precision
    assert fixed == [1250, 2025, 2300, 3175, 8050, 9500, 9925, 9950, 10000, 625]
    assert tx == ["d002", "0202", "0300", "0300"]


def test_crc_error_in_any_word_is_a_typed_error(tmp_path):
    bad = bytearray(bytes.fromhex(measured()))
    bad[3 * 13 + 2] ^= 0x40  # the CRC of word 13 (PM2.5 number concentration, high word)
    body = """
drv = SPS30(i2c)
try:
    drv.read_raw()
    res = "no error"
except ChecksumError as e:
    res = [e.kind, e.sensor, drv.crc_errors, "word 13" in str(e)]
out(res)
"""
    assert run(tmp_path, body, answers=[bytes(bad).hex()]) == ["checksum", "sps30", 1, True]


def test_wake_up_sends_two_transfers_and_tolerates_the_first_being_refused(tmp_path):
    body = """
drv = SPS30(i2c)
i2c.tx = []
class Sleeping:
    # A sleeping SPS30: the first transfer is not acked (it wakes the interface), the next one is.
    n = 0
    def writeto(self, addr, buf):
        Sleeping.n += 1
        i2c.tx.append(bytes(buf).hex())
        if Sleeping.n == 1:
            raise OSError(19)
drv._i2c = Sleeping()
drv.wake_up()
drv._i2c = i2c
drv.wake_up()
out(i2c.tx)
"""
    assert run(tmp_path, body) == ["1103", "1103", "1103", "1103"]


def test_read_measured_values_allocates_nothing(tmp_path):
    body = """
import gc
drv = SPS30(i2c)
fixed = [0] * 10
scales = (100,) * 9 + (1000,)
i2c.record = False
drv.data_ready()
drv.convert_fixed(drv.read_raw(), fixed, scales)
def measured():
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    for i in range(10):
        if drv.data_ready():
            drv.convert_fixed(drv.read_raw(), fixed, scales)
    b = gc.mem_alloc()
    gc.enable()
    return b - a
out([measured(), fixed])
"""
    res = run(tmp_path, body, answers=[with_crcs(b"\x00\x01").hex(), measured()])
    assert res == [0, [1250, 2025, 2300, 3175, 8050, 9500, 9925, 9950, 10000, 625]]


_value = st.one_of(st.floats(0, 3000, width=32), st.floats(-5, 5, width=32), st.floats(2.0 ** -20, 2.0 ** -7, width=32))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(_value, min_size=1, max_size=40), scale=st.sampled_from([1, 10, 100, 1000]))
def test_fixed_point_equals_rounded_float(tmp_path, values, scale):
    """Integers-only decoding agrees with round(value * scale) to within one unit (4 mantissa bits are
    dropped first, a relative error of 2**-20), for any float a PM sensor could send."""
    hexes = [struct.pack(">f", v).hex() for v in values]
    body = """
res = []
for h in %r:
    b = bytes.fromhex(h)
    res.append(fixed_from_float_bits(b[0], b[1], b[2], b[3], %d))
out(res)
""" % (hexes, scale)
    got = run(tmp_path, body)
    for v, g in zip(values, got):
        exact = struct.unpack(">f", struct.pack(">f", v))[0] * scale
        assert abs(g - exact) <= 0.5 + abs(exact) * 2 ** -19, (v, g, exact)


# -- the simulated chip --------------------------------------------------------------------------

SIM = """
import time, machine
from drivers.sps30 import SPS30
from drivers.errors import SensorError
i2c = machine.I2C(0)
dev = i2c.devices.get(105)
def attempt(fn):
    try:
        return fn()
    except SensorError as e:
        return e.kind
"""
SIM_HW = {"uart": {}, "i2c": {"0": {"105": {"chip": "sps30", "period_s": 0.1, "faults": {}}}}}


def test_simulated_chip_measures_sleeps_and_wakes(tmp_path):
    code = SIM + """
drv = SPS30(i2c)
before = drv.data_ready()
idle_cleaning = [drv.start_fan_cleaning(), dev.cleanings]
time.sleep_ms(drv.start_measurement())
time.sleep_ms(130)
ready = drv.data_ready()
v = drv.read()
again = drv.data_ready()
drv.start_fan_cleaning()
time.sleep_ms(drv.stop_measurement())
time.sleep_ms(drv.sleep())
asleep = attempt(drv.data_ready)
state = dev.state
drv.wake_up()
out({"before": before, "idle_cleaning": idle_cleaning, "ready": ready, "v": list(v), "again": again,
     "cleanings": dev.cleanings, "asleep": asleep, "state": state, "woken": dev.state})
"""
    res = run_fw(code, tmp_path, hw=SIM_HW)
    assert res["before"] is False and res["idle_cleaning"] == [10000, 0]  # cleaning: measuring only
    assert res["ready"] is True and res["again"] is False
    pm1, pm25, pm4, pm10, n05, n1, n25, n4, n10, size = res["v"]
    assert 0 < pm1 <= pm25 <= pm4 <= pm10 < 300
    assert 0 < n05 <= n1 <= n25 <= n4 <= n10 and 0.3 < size < 2
    assert res["cleanings"] == 1
    assert (res["asleep"], res["state"], res["woken"]) == ("absent", "sleep", "idle")


def test_simulated_faults(tmp_path):
    hw = copy.deepcopy(SIM_HW)
    hw["i2c"]["0"]["105"]["faults"] = {"crc_error_every": 2}
    code = SIM + """
drv = SPS30(i2c)
drv.start_measurement()
out([attempt(lambda: len(drv.read_raw())) for i in range(4)])
"""
    assert run_fw(code, tmp_path, hw=hw) == [40, "checksum", 40, "checksum"]
    hw["i2c"]["0"]["105"]["faults"] = {"unplugged": True}
    assert run_fw(SIM + "out(attempt(lambda: SPS30(i2c)))\n", tmp_path, hw=hw) == "absent"
    hw["i2c"]["0"]["105"]["faults"] = {"silent": True}
    code = SIM + "drv = SPS30(i2c)\ndrv.start_measurement()\ntime.sleep_ms(350)\nout(drv.data_ready())\n"
    assert run_fw(code, tmp_path, hw=hw) is False


# -- the sensor layer ----------------------------------------------------------------------------

KIT = {
    "id": "air-outdoor-v1",
    "buses": {"i2c_climate": {"type": "i2c", "id": 0, "scl": 22, "sda": 21, "freq": 100000}},
    "sensors": [{"type": "sps30", "bus": "i2c_climate", "address": 105}],
}
FAST = {"interval_s": 10, "average_s": 1, "sample_period_s": 0.1, "warmup_s": 0}
CYCLE = """
import json, asyncio, gc, machine
import board, sensors
kit = json.loads(%r)
buses = board.make_buses(kit)
sampler = sensors.build(kit, buses, json.loads(%r))
dev = buses["i2c_climate"].devices.get(105)
values, flags, errors = {}, {}, []
def cycle():
    values.clear(); flags.clear(); errors.clear()
    asyncio.run(sampler.measure(values, flags, errors))
"""
REPORT = "out({'values': values, 'flags': flags, 'errors': errors, 'q': sampler.quantities, 'state': dev and dev.state})\n"
HW = {"uart": {}, "i2c": {"0": {"105": {"chip": "sps30", "period_s": 0.2, "faults": {}}}}}


def cycle(tmp_path, hw, body="cycle()\n" + REPORT, kit=KIT, sampling=FAST):
    return run_fw(CYCLE % (json.dumps(kit), json.dumps(sampling)) + body, tmp_path, hw=hw)


def test_cycle_gives_ten_quantities_and_leaves_the_chip_asleep(tmp_path):
    res = cycle(tmp_path, HW)
    assert res["q"] == ["pm1", "pm2_5", "pm4", "pm10", "pn_lt0_5", "pn_lt1_0", "pn_lt2_5", "pn_lt4_0", "pn_lt10",
                        "typical_particle_size"]
    assert set(res["values"]) == set(res["q"]) and res["errors"] == [] and res["flags"] == {}
    v = res["values"]
    assert 0 < v["pm1"] <= v["pm2_5"] <= v["pm4"] <= v["pm10"] < 300
    assert v["pn_lt0_5"] <= v["pn_lt1_0"] <= v["pn_lt10"] and 0.3 < v["typical_particle_size"] < 2
    assert res["state"] == "sleep"


def test_fixed_point_window_matches_the_float_values(tmp_path):
    # With a fixed data set (period longer than the window: one set), the mean is that set.
    hw = copy.deepcopy(HW)
    body = """
import struct
vals = (12.5, 20.25, 23.0, 31.75, 80.5, 95.0, 99.25, 99.5, 100.0, 0.625)
def fixed_update():
    if dev.state == "measuring":
        dev._values = struct.pack(">10f", *vals)
        dev._made = dev._taken + 1
dev._update = fixed_update
cycle()
out(values)
"""
    v = cycle(tmp_path, hw, body=body, sampling={**FAST, "average_s": 0.5})
    assert v == {"pm1": 12.5, "pm2_5": 20.25, "pm4": 23.0, "pm10": 31.75, "pn_lt0_5": 80.5, "pn_lt1_0": 95.0,
                 "pn_lt2_5": 99.25, "pn_lt4_0": 99.5, "pn_lt10": 100.0, "typical_particle_size": 0.625}


def test_unplugged_sensor_is_absent_then_found_again(tmp_path):
    hw = copy.deepcopy(HW)
    hw["i2c"]["0"]["105"]["faults"] = {"unplugged": True}
    body = """
cycle()
first = [sorted(values), list(errors)]
dev.unplugged = False
cycle()
out({"first": first, "second": [len(values), errors, dev.state]})
"""
    res = cycle(tmp_path, hw, body=body)
    assert res["first"] == [[], [{"sensor": "sps30", "error": "absent"}]]
    assert res["second"] == [10, [], "sleep"]


def test_crc_errors_are_reported_and_good_sets_still_averaged(tmp_path):
    hw = copy.deepcopy(HW)
    hw["i2c"]["0"]["105"]["faults"] = {"crc_error_every": 2}
    hw["i2c"]["0"]["105"]["period_s"] = 0.1
    res = cycle(tmp_path, hw, sampling={**FAST, "average_s": 2})
    assert res["errors"] == [{"sensor": "sps30", "error": "checksum"}]
    assert "pm2_5" in res["values"]


def test_silent_sensor_times_out(tmp_path):
    hw = copy.deepcopy(HW)
    hw["i2c"]["0"]["105"]["faults"] = {"silent": True}
    res = cycle(tmp_path, hw)
    assert res["errors"] == [{"sensor": "sps30", "error": "timeout"}] and res["values"] == {}


def test_fan_cleaning_runs_once_the_interval_passed_and_lengthens_the_warmup(tmp_path):
    kit = copy.deepcopy(KIT)
    kit["sensors"][0]["fan_cleaning_interval_s"] = 0.2
    body = """
import time
cycle()
first = [dev.cleanings, sampler._sensors[0].warmup_ms]
s = sampler._sensors[0]
s._warmup_ms = 0
time.sleep_ms(250)
async def begin_only():
    return await s.begin()
began = asyncio.run(begin_only())
out({"first": first, "began": began, "cleanings": dev.cleanings, "warmup_ms": s.warmup_ms})
"""
    res = cycle(tmp_path, HW, body=body, kit=kit)
    assert res["first"] == [0, 0]  # not yet due at the first cycle
    assert res["began"] is True and res["cleanings"] == 1 and res["warmup_ms"] == 11000
