"""SHT3x driver under MicroPython against the simulated sensor: datasheet frames, CRC, commands, errors, heap."""
from hypothesis import given, settings
from hypothesis import strategies as st

from fwsim import run_fw


def chip(**cfg):
    return {"i2c": {"0": {"68": {"chip": "sht3x", **cfg}}}}


PRELUDE = """
import time, gc, machine, sim_env, sht3x_model
from drivers.sht3x import SHT3x
from drivers.sensirion_crc import crc8
from drivers.errors import SensorError
i2c = machine.I2C(0)
def err(fn, *a):
    try:
        fn(*a)
        return None
    except SensorError as e:
        return [type(e).__name__, e.kind, str(e.args[1])]
def measure(d):
    time.sleep_ms(d.start_measurement())
    return d.read()
"""


def crc8_py(data):
    crc = 0xFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def test_crc_check_value_and_conversions(tmp_path):
    """Datasheet table 20: CRC(0xBEEF) = 0x92. Section 4.13 at the ends and the middle of the scale."""
    code = PRELUDE + """
class Quiet:  # acks every command; the conversions need no bus
    def writeto(self, addr, buf):
        pass
d = SHT3x(Quiet(), check=False)
res = {"crc": [crc8(b"\\xbe\\xef"), crc8(b"\\x00\\x00"), crc8(b"\\xff\\xff")], "conv": []}
for st, srh in ((0, 0), (65535, 65535), (0x6666, 0x8000), (26214, 32768)):
    ints = list(d.compensate_int([st, srh]))
    r = d.compensate([st, srh])
    res["conv"].append(ints + [r.temperature, r["humidity"]])
out(res)
"""
    res = run_fw(code, tmp_path, hw=chip())
    assert res["crc"] == [0x92, 0x81, 0xAC]
    assert res["conv"][0] == [-45000, 0, -45.0, 0.0]
    assert res["conv"][1] == [130000, 100000, 130.0, 100.0]
    _, _, t, h = res["conv"][2]
    assert abs(t - (-45 + 175 * 0x6666 / 65535)) < 1e-9 and abs(t - 25.0) < 0.001
    assert abs(h - 50.0008) < 1e-3


@settings(max_examples=5, deadline=None)
@given(st.lists(st.binary(min_size=2, max_size=2), min_size=20, max_size=20))
def test_crc_matches_an_independent_implementation(tmp_path_factory, words):
    code = PRELUDE + "out([crc8(bytes.fromhex(h)) for h in %r])\n" % [w.hex() for w in words]
    assert run_fw(code, tmp_path_factory.mktemp("crc"), hw={}) == [crc8_py(w) for w in words]


def test_commands_measurement_and_status(tmp_path):
    code = PRELUDE + """
m = sht3x_model.SHT3xModel(machine.environment(), {"chip": "sht3x"})
i2c.devices[68] = m
m.status |= 0x2000  # someone left the heater on
m.heater = True
d = SHT3x(i2c, 0x44)
init = list(m.commands)
status = d.status()
early = None
d.start_measurement()
early = err(d.read_raw)  # no clock stretching: NACK until done
time.sleep_ms(15)
r = d.read()
now = sim_env.now(); env = machine.environment()
again = err(d.read_raw)  # an answer is read once
d.soft_reset()
time.sleep_ms(2)
after_reset = d.status()
out({"init": init, "status": status, "early": early, "r": [r.temperature, r.humidity],
     "env": [env.temperature(now), env.humidity(now)], "again": again, "after_reset": after_reset,
     "commands": m.commands, "heater": m.heater})
"""
    res = run_fw(code, tmp_path, hw=chip())
    assert res["init"] == ["f32d", "3066", "3041"]  # status, heater off, clear status
    assert res["status"] & 0x2000 == 0 and res["status"] & 0x0010 == 0
    assert res["early"][:2] == ["SensorTimeout", "timeout"]
    assert "2400" in res["commands"]  # single shot, high repeatability, no clock stretching
    (t, h), (et, eh) = res["r"], res["env"]
    assert abs(t - et) < 0.01 and abs(h - eh) < 0.01
    assert res["again"][:2] == ["SensorTimeout", "timeout"]
    assert res["after_reset"] & 0x0010  # "system reset detected" after a soft reset (30a2)
    assert "30a2" in res["commands"] and res["heater"] is False


def test_errors_absent_checksum_stuck(tmp_path):
    code = PRELUDE + """
res = {"absent": err(SHT3x, i2c, 0x45)}
def make(cfg):
    m = sht3x_model.SHT3xModel(machine.environment(), cfg)
    i2c.devices[68] = m
    return m
make({"faults": {"crc_error_every": 1}})
res["status_crc"] = err(SHT3x, i2c)
m = make({"faults": {"crc_error_every": 2}})
d = SHT3x(i2c)  # answer 1: the status word, good
res["crc"] = [err(measure, d), err(measure, d)]  # answers 2 (bad), 3 (good)
make({"faults": {"stuck_measuring": True}})
d = SHT3x(i2c, check=False)
res["stuck"] = err(measure, d)
m = make({})
d = SHT3x(i2c)
m.unplugged = True
res["unplugged"] = err(d.start_measurement)
out(res)
"""
    res = run_fw(code, tmp_path, hw=chip())
    assert res["absent"][:2] == ["AbsentError", "absent"] and "0x45" in res["absent"][2]
    assert res["status_crc"][:2] == ["ChecksumError", "checksum"]
    assert res["crc"][0][:2] == ["ChecksumError", "checksum"] and "word 1" in res["crc"][0][2]
    assert res["crc"][1] is None
    assert res["stuck"][:2] == ["SensorTimeout", "timeout"]
    assert res["unplugged"][:2] == ["AbsentError", "absent"]


def test_corrupted_first_word_names_it(tmp_path):
    code = PRELUDE + """
class Bus:  # the datasheet frame of section 4.4 with a bad temperature CRC
    def writeto(self, addr, buf):
        pass
    def readfrom_into(self, addr, buf):
        frame = b"\\x66\\x66\\x00\\x80\\x00\\xa2"
        for i in range(len(buf)):
            buf[i] = frame[i]
d = SHT3x(Bus(), check=False)
out(err(d.read_raw))
"""
    res = run_fw(code, tmp_path, hw={})
    assert res[:2] == ["ChecksumError", "checksum"] and "word 0" in res[2]


def test_read_heap(tmp_path):
    code = PRELUDE + """
class Bus:  # a bus that allocates nothing: only the driver's allocations count
    frame = bytes([0x66, 0x66, 0x93, 0x80, 0x00, 0xa2])
    def writeto(self, addr, buf):
        pass
    def readfrom_into(self, addr, buf):
        f = self.frame
        for i in range(len(buf)):
            buf[i] = f[i]
d = SHT3x(Bus(), check=False)
def heap():
    d.start_measurement(); d.compensate_int(d.read_raw())
    gc.collect(); gc.disable()
    a = gc.mem_alloc()
    d.start_measurement()
    t, h = d.compensate_int(d.read_raw())
    b = gc.mem_alloc()
    d.compensate(d.raw)
    c = gc.mem_alloc()
    gc.enable()
    return [b - a, c - b, t, h]
out(heap())
"""
    int_path, floats, t, h = run_fw(code, tmp_path, hw={})
    print("SHT3x read heap:", int_path, floats)
    assert (t, h) == (25000, 50000)  # 0x6666: 175000 x 26214 / 65535 = 70000 exactly
    assert int_path == 0 and floats <= 96  # two boxed floats
