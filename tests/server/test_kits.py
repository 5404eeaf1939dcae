"""Kit definitions: one schema for every kit, clear errors naming file and key, the CLI, the docs."""
import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from datacityzen import cli
from datacityzen.kits import KitError, Registry, kit_files, resolve, validate_file, validate_kit

ROOT = Path(__file__).resolve().parents[2]
KITS = ROOT / "kits"
REG = Registry.load(KITS)
EXPECTED_KITS = ["air-indoor-v1", "air-outdoor-v1", "exhibition-v1", "noise-v1", "pollen-v1"]


def kit(name):
    return json.loads((KITS / f"{name}.json").read_text(encoding="utf-8"))


def problems(doc):
    return [(p.key, p.en) for p in validate_kit(doc, "kits/test.json", REG)]


def test_every_shipped_kit_and_variant_is_valid():
    assert [p.stem for p in kit_files(KITS)] == EXPECTED_KITS
    for path in kit_files(KITS):
        assert validate_file(path, REG) == [], path


def test_pin_used_twice_names_both_uses():
    doc = kit("air-outdoor-v1")
    doc["buses"]["i2c_climate"]["sda"] = 16
    got = validate_kit(doc, "kits/air-outdoor-v1.json", REG)
    assert len(got) == 1  # the sps30 variant has buses of its own, without the UART
    p = got[0]
    assert (p.file, p.key) == ("kits/air-outdoor-v1.json", "buses.uart_pm.rx")
    assert p.en == "pin 16 used twice (i2c_climate.sda, uart_pm.rx)"
    assert p.fr == "broche 16 utilisée deux fois (i2c_climate.sda, uart_pm.rx)"
    assert str(p).startswith("kits/air-outdoor-v1.json: buses.uart_pm.rx: pin 16 used twice")


def test_unknown_sensor_lists_the_known_ones():
    doc = kit("air-indoor-v1")
    doc["sensors"][0]["type"] = "pms9999"
    [(key, en)] = problems(doc)
    assert key == "sensors[0].type" and "pms9999" in en and "pms5003" in en and "sps30" in en


def test_bus_the_board_lacks():
    doc = kit("air-indoor-v1")
    doc["buses"]["uart_pm"]["id"] = 0  # UART0 is the USB console: not offered
    doc["buses"]["i2c_climate"]["id"] = 3
    assert problems(doc) == [
        ("buses.i2c_climate.id", "the board has no I2C 3 (it has: 0, 1)"),
        ("buses.uart_pm.id", "the board has no UART 0 (it has: 1, 2)"),
    ]


def test_pin_the_board_lacks_reserved_and_input_only():
    doc = kit("exhibition-v1")
    doc["buses"]["uart_pm"]["tx"] = 35  # input-only: cannot drive TX
    doc["buses"]["uart_pm"]["rx"] = 6  # wired to the flash
    doc["buses"]["i2s_mic"]["sd"] = 1  # the console's TX
    doc["buses"]["i2c_climate"]["scl"] = 34
    got = problems(doc)
    assert ("buses.uart_pm.tx", "GPIO 35 is input-only and cannot drive uart_pm.tx") in got
    assert ("buses.uart_pm.rx", "the board has no usable GPIO 6") in got
    assert ("buses.i2s_mic.sd", "GPIO 1 is taken (UART0 TX, the USB console)") in got
    assert ("buses.i2c_climate.scl", "GPIO 34 is input-only and cannot drive i2c_climate.scl") in got
    ok = kit("noise-v1")
    ok["buses"]["i2s_mic"]["sd"] = 34  # an input-only pin is fine for the microphone's data
    assert problems(ok) == []


def test_sensor_on_a_bus_of_the_wrong_type_or_missing_bus():
    doc = kit("pollen-v1")
    doc["sensors"][0]["bus"] = "i2c_climate"  # a UART sensor on I2C
    doc["sensors"][1]["bus"] = "i2c_nowhere"
    assert problems(doc) == [
        ("sensors[0].bus", "pms5003 needs a uart bus; i2c_climate is i2c"),
        ("sensors[1].bus", "sht3x is on bus 'i2c_nowhere', which the kit does not define"),
    ]


def test_variant_problems_are_prefixed_with_the_variant():
    doc = kit("air-outdoor-v1")
    doc["variants"]["sps30"]["sensors"][0]["address"] = 118  # same as the BME280
    [(key, en)] = problems(doc)
    assert key == "variants.sps30.sensors[1].address"
    assert en == "address 118 (0x76) on i2c_climate used twice (sps30, bme280)"


def test_other_rules():
    doc = kit("pollen-v1")
    doc["sensors"][0] = {"type": "sht4x", "bus": "i2c_climate", "address": 70}
    doc["variants"] = {}
    doc["sampling"]["average_s"] = 400
    doc["transport"]["link"] = "pigeon"
    doc["board"] = "arduino-uno"
    del doc["name"]["fr"]
    doc["buses"]["i2c_climate"]["freq"] = "fast"
    keys = [k for k, _ in problems(doc)]
    assert keys == ["name", "sampling.average_s", "transport.link", "board", "buses.i2c_climate.freq",
                    "derived[0]"]
    doc = kit("noise-v1")
    doc["sensors"].append({"type": "ics43434", "bus": "i2s_mic"})
    assert problems(doc) == [("sensors[1].bus", "i2s_mic already carries inmp441: a i2s bus holds one sensor")]
    assert problems(kit("noise-v1") | {"id": "noise-v2"}) == []
    assert validate_kit(kit("noise-v1"), "kits/noise-v2.json", REG, expect_id="noise-v2")[0].key == "id"


def test_resolve_gives_the_plain_kit_of_a_variant():
    base = kit("air-outdoor-v1")
    plain = resolve(base, None)
    assert "variants" not in plain and plain["sensors"] == base["sensors"]
    v = resolve(base, "sps30")
    assert [s["type"] for s in v["sensors"]] == ["sps30", "bme280"]
    assert list(v["buses"]) == ["i2c_climate"] and v["variant"] == "sps30" and v["sampling"] == base["sampling"]
    assert problems(v) == []
    with pytest.raises(KitError, match="no variant 'sds012'"):
        resolve(base, "sds012")


def test_every_kit_sensor_type_has_a_definition_and_firmware_types_are_known():
    src = (ROOT / "firmware" / "sensors" / "from_kit.py").read_text(encoding="utf-8")  # the table of sensor modules
    firmware_types = set(re.findall(r'"([a-z0-9]+)": "(?:pm|climate)_', src))
    assert {"sds011", "pms5003", "pms7003", "sps30", "bme280"} <= firmware_types
    assert firmware_types <= set(REG.sensors)
    for name in ("sds011", "pms5003", "pms7003", "sps30", "bme280"):
        spec = REG.sensors[name]
        assert set(spec["quantities"]) <= set(REG.quantities)
        assert set(spec["specified_range"]) <= set(spec["quantities"])
        assert isinstance(spec["warmup_s"], (int, float)) and spec["source"]


# -- the command line ----------------------------------------------------------------------------

def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "datacityzen.cli", "kits", *args], capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT / "server"), "PATH": "/usr/bin:/bin"})


def test_cli_list_and_validate_all(capsys):
    assert cli.main(["kits", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == EXPECTED_KITS
    assert "sps30" in out[1] and "Air extérieur" in out[1]
    assert cli.main(["kits", "validate"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "5 kit(s), 0 invalid / 0 invalide(s)"


def test_cli_validate_invalid_file_exits_2_with_both_languages(tmp_path):
    doc = kit("air-outdoor-v1")
    doc["buses"]["i2c_climate"]["sda"] = 16
    bad = tmp_path / "air-outdoor-v1.json"
    bad.write_text(json.dumps(doc))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    proc = run_cli("validate", str(bad), str(broken), "pollen-v1")
    assert proc.returncode == 2, proc.stderr
    assert f"INVALID / INVALIDE  {bad}" in proc.stdout
    assert "  - buses.uart_pm.rx: pin 16 used twice (i2c_climate.sda, uart_pm.rx)" in proc.stdout
    assert "    buses.uart_pm.rx : broche 16 utilisée deux fois (i2c_climate.sda, uart_pm.rx)" in proc.stdout
    assert "not valid JSON" in proc.stdout and "JSON invalide" in proc.stdout
    assert "ok / valide" in proc.stdout and "pollen-v1.json" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "3 kit(s), 2 invalid / 2 invalide(s)"
    missing = run_cli("validate", "no-such-kit")
    assert missing.returncode == 2 and "cannot read it" in missing.stdout and "lecture impossible" in missing.stdout


# -- the docs --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", EXPECTED_KITS)
def test_each_kit_has_a_bilingual_guide_with_its_wiring(name):
    doc = (ROOT / "docs" / "kits" / f"{name}.md").read_text(encoding="utf-8")
    assert "## English" in doc and "## Français" in doc
    k = kit(name)
    gpios = set(map(int, re.findall(r"GPIO ?(\d+)", doc)))
    for kdoc in [k] + [resolve(k, v) for v in k.get("variants", {})]:
        for bus in kdoc["buses"].values():
            for key, role in {"tx": 1, "rx": 1, "scl": 1, "sda": 1, "sck": 1, "ws": 1, "sd": 1}.items():
                if key in bus:
                    assert bus[key] in gpios, (name, key, bus[key])
        for s in kdoc["sensors"]:
            assert s["type"].upper() in doc.upper().replace("-", ""), (name, s["type"])
