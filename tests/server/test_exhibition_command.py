"""`datacityzen exhibition`: its arguments and the simulated kits' scene (the end-to-end run with the real
firmware is in tests/web/test_exhibition.py)."""
import json

import pytest

from datacityzen.cli import build_parser
from datacityzen.exhibition.command import parse_simulate, scene, write_scene
from datacityzen.sim.runner import load_kit


@pytest.mark.parametrize("spec, kits", [
    (None, {}), ("0", {}), ("3", {"exhibition-v1": 3}),
    ("exhibition-v1,noise-v1,noise-v1", {"exhibition-v1": 1, "noise-v1": 2}), (" noise-v1 , ", {"noise-v1": 1}),
])
def test_simulate_takes_a_number_or_kit_ids(spec, kits):
    assert parse_simulate(spec) == kits


def test_the_exhibition_kit_hears_claps_and_smells_breath_on_demand():
    hw = scene(load_kit("exhibition-v1"), seed=4, every_s=0)
    mic = hw["i2s"]["0"]
    assert mic["chip"] == "inmp441" and mic["scene"]["clap"]["trigger_file"] == "clap"
    assert mic["scene"]["clap"]["every_s"] == 0  # only when touched
    gas = hw["i2c"]["0"]["119"]  # the BME680 where the kit puts it (0x77)
    assert gas["chip"] == "bme680" and gas["breath"]["trigger_file"] == "breath"
    assert "uart" not in hw  # the particle sensor keeps the simulator's default


def test_a_kit_without_microphone_or_gas_sensor_keeps_the_simulator_defaults():
    assert set(scene(load_kit("air-outdoor-v1"), seed=2, every_s=60)) == {"seed", "exhibition_scene"}


def test_a_hand_made_sim_hw_file_is_kept(tmp_path):
    kit = load_kit("noise-v1")
    own = {"seed": 9, "i2s": {"0": {"chip": "inmp441", "faults": {"unplugged": "zeros"}}}}
    (tmp_path / "sim_hw.json").write_text(json.dumps(own))
    write_scene(tmp_path, kit, 1, 60)
    assert json.loads((tmp_path / "sim_hw.json").read_text()) == own
    (tmp_path / "sim_hw.json").write_text(json.dumps({"seed": 3}))  # what `datacityzen sim` writes
    write_scene(tmp_path, kit, 1, 60)
    assert json.loads((tmp_path / "sim_hw.json").read_text())["i2s"]["0"]["scene"]["clap"]["every_s"] == 60


def test_bad_numbers_are_refused_with_a_clear_message(capsys):
    from datacityzen.cli import main

    assert main(["exhibition", "--rotate", "0", "--http-port", "1", "--mqtt-port", "1"]) == 2
    assert "--rotate" in capsys.readouterr().err


def test_every_flag_has_a_default():
    args = build_parser().parse_args(["exhibition"])
    assert (args.simulate, args.interval, args.unplugged_after, args.rotate, args.recent_hours) == (None, 5.0, 3.0, 20.0, 24.0)
