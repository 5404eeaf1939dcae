"""The fake board and the emulated ROM behave like the real things for the real tools (mpremote, esptool)."""
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from images import make_image  # noqa: E402

from mpy import require_micropython  # noqa: E402

MPREMOTE = [sys.executable, "-m", "mpremote"]


@pytest.fixture
def board(tmp_path):
    require_micropython()
    from datacityzen.sim.fakeboard import FakeBoard

    b = FakeBoard(tmp_path / "flash")
    b.start()
    yield b
    b.stop()


def mpremote(port, *args, timeout=60):
    return subprocess.run([*MPREMOTE, "connect", port, *args], capture_output=True, text=True, timeout=timeout)


def test_mpremote_copies_lists_hashes_and_resets(board, tmp_path):
    src = tmp_path / "blob.bin"
    src.write_bytes(hashlib.shake_256(b"x").digest(5000))
    r = mpremote(board.port, "fs", "cp", str(src), ":blob.bin", "+", "fs", "mkdir", ":lib", "+",
                 "fs", "sha256sum", ":blob.bin")
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(src.read_bytes()).hexdigest() in r.stdout
    assert (board.flash_dir / "blob.bin").read_bytes() == src.read_bytes()
    assert (board.flash_dir / "lib").is_dir()
    r = mpremote(board.port, "exec", "import os; print(os.uname()[4]); x = 41")
    assert "ESP32" in r.stdout
    # State persists between blocks of one session; a soft reset (new mpremote session) clears it.
    r = mpremote(board.port, "exec", "x = 41", "+", "exec", "print(x + 1)")
    assert r.stdout.strip().endswith("42"), r.stdout + r.stderr
    r = mpremote(board.port, "exec", "print('x' in globals())")
    assert r.stdout.strip() == "False"
    r = mpremote(board.port, "reset")
    assert r.returncode == 0
    r = mpremote(board.port, "exec", "print(1 + 1)")
    assert r.stdout.strip() == "2"


def test_errors_come_back_as_on_a_board(board):
    r = mpremote(board.port, "exec", "import nosuchmodule")
    assert r.returncode != 0
    assert "ImportError" in r.stdout + r.stderr


def test_a_mute_port_gets_a_sentence_about_the_cable(tmp_path):
    from datacityzen.flash.station import StationError, connect
    from datacityzen.sim.fakeboard import FakeBoard

    with FakeBoard(tmp_path / "f", mode="mute") as b:
        with pytest.raises(StationError) as err:
            connect(b.port, timeout=1.5)
    assert "charge-only" in err.value.en and "câble" in err.value.fr


def test_esptool_writes_and_verifies_an_image_on_the_emulated_rom(tmp_path):
    import esptool.cmds

    from datacityzen.flash.fake_rom import FakeESP32ROM

    image = tmp_path / "fw.bin"
    make_image(image)
    esptool.cmds.image_info(str(image))  # esptool's offline parser accepts it (checksum and digest valid)
    esp = FakeESP32ROM()
    esptool.cmds.write_flash(esp, [(0x1000, str(image))], flash_size="keep")
    data = image.read_bytes()
    assert bytes(esp.flash[0x1000:0x1000 + len(data)]) == data
    assert "SPI_FLASH_MD5" in esp.commands  # esptool verified the flash by MD5 against our ROM


def test_esptool_reports_a_board_that_stops_answering(tmp_path):
    import esptool.cmds
    from esptool.util import FatalError

    from datacityzen.flash.fake_rom import FakeESP32ROM

    image = tmp_path / "fw.bin"
    make_image(image)
    esp = FakeESP32ROM(fail_after_blocks=3)
    with pytest.raises(FatalError):
        esptool.cmds.write_flash(esp, [(0x1000, str(image))], flash_size="keep")
