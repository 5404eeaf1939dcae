"""SHT4x driver under MicroPython against the simulated sensor: conversions, serial number, CRC, errors."""
from fwsim import run_fw


def chip(**cfg):
    return {"i2c": {"0": {"68": {"chip": "sht4x", **cfg}}}}


PRELUDE = """
import time, gc, machine, sim_env, sht4x_model
from drivers.sht4x import SHT4x
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


def test_conversions_are_not_cropped(tmp_path):
    """Section 4.6: RH = -6 + 125 S/65535 spans -6..119 %RH; the datasheet suggests cropping, we keep it."""
    code = PRELUDE + """
d = SHT4x(i2c)
res = []
for st, srh in ((0, 0), (65535, 65535), (26214, 3146), (26214, 60817)):
    r = d.compensate([st, srh])
    res.append(list(d.compensate_int([st, srh])) + [r.temperature, r["humidity"]])
out(res)
"""
    res = run_fw(code, tmp_path, hw={})
    assert res[0] == [-45000, -6000, -45.0, -6.0]
    assert res[1] == [130000, 119000, 130.0, 119.0]
    assert res[2][0] == 25000 and res[2][1] == 0 and abs(res[2][3] - 0.0005) < 1e-3
    assert res[3][3] > 109.9  # kept above 100 %RH


def test_serial_measurement_and_commands(tmp_path):
    code = PRELUDE + """
m = i2c.devices[68]
d = SHT4x(i2c, 0x44)
none_yet = list(m.commands)
d.start_serial()
early = err(d.read_serial)
time.sleep_ms(10)
serial = d.read_serial()
r = measure(d)
now = sim_env.now(); env = machine.environment()
again = err(d.read_raw)
out({"none_yet": none_yet, "early": early, "serial": serial, "r": [r.temperature, r.humidity],
     "env": [env.temperature(now), env.humidity(now)], "again": again, "commands": m.commands})
"""
    res = run_fw(code, tmp_path, hw=chip(serial=0x12345678))
    assert res["none_yet"] == []  # the constructor stays off the bus
    assert res["early"][:2] == ["SensorTimeout", "timeout"]
    assert res["serial"] == 0x12345678
    assert res["commands"] == ["89", "fd"]  # serial number, high-precision measurement
    (t, h), (et, eh) = res["r"], res["env"]
    assert abs(t - et) < 0.01 and abs(h - eh) < 0.01
    assert res["again"][:2] == ["SensorTimeout", "timeout"]


def test_errors(tmp_path):
    code = PRELUDE + """
res = {"absent": err(SHT4x(i2c, 0x45).start_measurement)}
def make(cfg):
    m = sht4x_model.SHT4xModel(machine.environment(), cfg)
    i2c.devices[68] = m
    return m
make({"faults": {"crc_error_every": 1}})
d = SHT4x(i2c)
time.sleep_ms(d.start_serial())
res["serial_crc"] = err(d.read_serial)
res["measure_crc"] = err(measure, d)
make({"faults": {"stuck_measuring": True}})
res["stuck"] = err(measure, SHT4x(i2c))
m = make({})
d = SHT4x(i2c)
measure(d)
m.unplugged = True
res["unplugged"] = err(d.start_measurement)
out(res)
"""
    res = run_fw(code, tmp_path, hw=chip())
    assert res["absent"][:2] == ["AbsentError", "absent"] and "0x45" in res["absent"][2]
    assert res["serial_crc"][:2] == ["ChecksumError", "checksum"] and "word 1" in res["serial_crc"][2]
    assert res["measure_crc"][:2] == ["ChecksumError", "checksum"]
    assert res["stuck"][:2] == ["SensorTimeout", "timeout"]
    assert res["unplugged"][:2] == ["AbsentError", "absent"]


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
d = SHT4x(Bus())
def heap():
    d.start_measurement(); d.compensate_int(d.read_raw())
    gc.collect(); gc.disable()
    a = gc.mem_alloc()
    d.start_measurement()
    t, h = d.compensate_int(d.read_raw())
    b = gc.mem_alloc()
    gc.enable()
    return [b - a, t, h]
out(heap())
"""
    int_path, t, h = run_fw(code, tmp_path, hw={})
    print("SHT4x read heap:", int_path)
    assert (t, h) == (25000, 56500) and int_path == 0
