"""board.make_buses under MicroPython with the simulated machine module."""
import copy
import json

from fwsim import HEALTHY, KIT, run_fw


def test_buses_from_the_kit(tmp_path):
    code = """
import board
buses = board.make_buses(json.loads(%r))
out({k: [type(v).__name__, v.id] for k, v in buses.items()})
""" % json.dumps(KIT)
    assert run_fw(code, tmp_path, hw=HEALTHY) == {"uart_pm": ["UART", 2], "i2c_climate": ["I2C", 0]}


def test_pin_used_twice_names_both_uses(tmp_path):
    kit = copy.deepcopy(KIT)
    kit["buses"]["i2c_climate"]["sda"] = 16
    code = """
import board
try:
    board.make_buses(json.loads(%r))
    out("built")
except ValueError as e:
    out(str(e))
""" % json.dumps(kit)
    assert run_fw(code, tmp_path, hw=HEALTHY) == "kit air-outdoor-v1: pin 16 used twice (i2c_climate.sda, uart_pm.rx)"


def test_sim_hw_keys_left_out_keep_the_healthy_defaults(tmp_path):
    code = """
import machine
out([machine.UART(2).device is not None, machine.I2C(0).scan(), machine.config()["seed"]])
"""
    assert run_fw(code, tmp_path, hw={"seed": 3}) == [True, [118], 3]
