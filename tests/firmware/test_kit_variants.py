"""A kit's variants on the device: device.json picks one, config.load keeps only that one."""
import json
from pathlib import Path

from fwsim import run_fw

KIT = json.loads((Path(__file__).resolve().parents[2] / "kits" / "air-outdoor-v1.json").read_text(encoding="utf-8"))
CODE = """
import config
try:
    cfg = config.load()
    out([[s["type"] for s in cfg["sensors"]], sorted(cfg["buses"]), "variants" in cfg, cfg.get("variant")])
except config.ConfigError as e:
    out(str(e))
"""


def load(tmp_path, variant):
    (tmp_path / "kit.json").write_text(json.dumps(KIT))
    device = {"device_id": "dcz-test", "mqtt": {"host": "127.0.0.1"}}
    if variant:
        device["variant"] = variant
    (tmp_path / "device.json").write_text(json.dumps(device))
    return run_fw(CODE, tmp_path, hw={})


def test_base_kit_without_a_variant(tmp_path):
    assert load(tmp_path, None) == [["sds011", "bme280"], ["i2c_climate", "uart_pm"], False, None]


def test_device_file_picks_a_variant(tmp_path):
    assert load(tmp_path, "sps30") == [["sps30", "bme280"], ["i2c_climate"], False, "sps30"]


def test_unknown_variant_is_a_clear_error(tmp_path):
    assert load(tmp_path, "sds012") == "device.json: kit air-outdoor-v1 has no variant sds012"


def test_simulated_hardware_follows_the_kit_and_its_variant(tmp_path):
    """Without a sim_hw.json the simulated board carries a healthy chip for each sensor of the kit."""
    (tmp_path / "kit.json").write_text(json.dumps(KIT))
    code = """
import machine
cfg = machine.config()
out([cfg["uart"], cfg["i2c"]])
"""
    (tmp_path / "device.json").write_text(json.dumps({"device_id": "x", "variant": "sps30"}))
    uart, i2c = run_fw(code, tmp_path)
    assert uart == {} and {a: d["chip"] for a, d in i2c["0"].items()} == {"105": "sps30", "118": "bme280"}
    (tmp_path / "device.json").write_text(json.dumps({"device_id": "x"}))
    uart, i2c = run_fw(code, tmp_path)
    assert uart["2"]["chip"] == "sds011" and i2c["0"]["118"]["chip"] == "bme280"
