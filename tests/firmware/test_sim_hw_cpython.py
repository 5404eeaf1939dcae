"""The simulated hardware also runs under CPython (the simulator's fallback)."""
import subprocess
import sys
import json

from mpy import SIM_HW

CODE = """
import sys, json, time
sys.path.insert(0, %r)
import machine, network, ntptime
u = machine.UART(2, baudrate=9600, tx=machine.Pin(17), rx=machine.Pin(16), timeout=0)
u.write(bytes.fromhex("aab4060101" + "00" * 10 + "ffff06ab"))
time.sleep(0.25)
buf = bytearray(64)
n = u.readinto(buf)
i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21))
chip_id = i2c.readfrom_mem(0x76, 0xD0, 1)[0]
try:
    i2c.readfrom_mem(0x77, 0xD0, 1)
    err = None
except OSError as e:
    err = e.args[0]
i2c.writeto_mem(0x76, 0xF4, bytes([0x25]))
time.sleep(0.02)
data = i2c.readfrom_mem(0x76, 0xF7, 8)
w = network.WLAN(network.STA_IF)
w.active(True)
w.connect("ssid", "key")
time.sleep(0.3)
ntptime.settime()
print(json.dumps({"frames": bytes(buf[:n]).hex(), "chip_id": chip_id, "err": err, "data": list(data),
                  "wifi": w.isconnected(), "uid": len(machine.unique_id()), "freq": machine.freq()}))
"""


def test_sim_hw_under_cpython(tmp_path):
    (tmp_path / "sim_hw.json").write_text(json.dumps({"uart": {"2": {"chip": "sds011", "period_s": 0.1}},
                                                        "i2c": {"0": {"118": {"chip": "bme280"}}}}))
    proc = subprocess.run([sys.executable, "-c", CODE % str(SIM_HW)], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    frames = bytes.fromhex(res["frames"])
    assert frames[:2] == b"\xaa\xc5" and frames[10:12] == b"\xaa\xc0"  # work reply, then data
    assert (res["chip_id"], res["err"], res["wifi"], res["uid"]) == (0x60, 19, True, 6)
    assert res["data"][0] != 0x80  # a real conversion happened
