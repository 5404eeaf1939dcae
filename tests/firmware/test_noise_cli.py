"""`datacityzen noise FILE.wav`: the firmware's meter over generated recordings, and its errors."""
import json
import math
import re
import struct
from dataclasses import dataclass

import numpy as np
import pytest

from mpy import require_micropython

RATES = (16000, 32000, 44100, 48000)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys):
    """Run `datacityzen noise ARGS` in this process (the meter itself runs in MicroPython or here)."""
    from datacityzen.cli import main

    def run(*args, check=True):
        capsys.readouterr()
        code = main(["noise", *map(str, args)])
        out, err = capsys.readouterr()
        if check:
            assert code == 0, err
        return Run(code, out, err)

    return run


def write_wav(path, samples, rate, bits=16, channels=1, tag=1, extensible=False):
    """A WAV file written by hand (so the odd formats can be made too)."""
    data = np.asarray(samples)
    width = bits // 8
    if bits == 24:
        v = data.astype("<i4")
        raw = b"".join(int(x).to_bytes(4, "little", signed=True)[:3] for x in v)
    elif bits == 8:
        raw = (data.astype(np.int16) + 128).astype(np.uint8).tobytes()
    else:
        raw = data.astype({16: "<i2", 32: "<i4"}[bits]).tobytes()
    block = channels * width
    if extensible:
        guid = struct.pack("<H", tag) + bytes.fromhex("000000001000800000aa00389b71")
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * block, block, bits, 22, bits, 4) + guid
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"LIST" + struct.pack("<I", 4) + b"INFO"
    body += b"data" + struct.pack("<I", len(raw)) + raw
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def tone(rate, seconds, db_spl, f=1000.0, bits=16):
    t = np.arange(int(seconds * rate))
    full = 2 ** (bits - 1)
    x = full * 10 ** ((db_spl - 120) / 20) * np.sin(2 * np.pi * f * t / rate)
    return np.round(x).astype(np.int64)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("bits", [16, 32])
def test_tone_file_reads_its_level_per_interval(cli, tmp_path, rate, bits):
    # 0.5 s at 74 dB then 0.5 s at 94 dB, 1 kHz; intervals of 0.5 s
    x = np.concatenate([tone(rate, 0.5, 74.0, bits=bits), tone(rate, 0.5, 94.0, bits=bits)])
    path = write_wav(tmp_path / "t.wav", x, rate, bits)
    out = json.loads(cli(path, "--interval", "0.5", "--json").stdout)
    assert out["rate_hz"] == rate and out["bits"] == bits and out["duration_s"] == pytest.approx(1.0, abs=1e-3)
    a, b = out["intervals"]
    assert b["start_s"] == pytest.approx(0.5, abs=1e-4)
    # 16-bit quantisation costs a little at 74 dB (-46 dBFS: ~165 LSB amplitude)
    assert a["laeq"] == pytest.approx(74.0, abs=0.05)
    assert b["laeq"] == pytest.approx(94.0, abs=0.05)
    assert b["lamax"] == pytest.approx(94.0, abs=0.1)
    # the whole file: energy mean of 74 and 94 dB over equal times
    assert out["laeq"] == pytest.approx(10 * math.log10((10 ** 7.4 + 10 ** 9.4) / 2), abs=0.05)
    assert out["lamax"] == b["lamax"] and out["lamin"] <= a["lamax"]


def test_micropython_and_cpython_give_the_same_numbers(cli, tmp_path):
    require_micropython()
    rng = np.random.default_rng(3)
    x = np.round(rng.standard_normal(44100) * 3000).astype(np.int64)
    path = write_wav(tmp_path / "n.wav", x, 44100, 24)
    mp = json.loads(cli(path, "--json", "--interval", "0.3", "--runtime", "micropython").stdout)
    cp = json.loads(cli(path, "--json", "--interval", "0.3", "--runtime", "cpython").stdout)
    assert mp["runtime"] == "micropython" and mp["kernel"] == "viper"
    assert cp["runtime"] == "cpython" and cp["kernel"] == "plain"
    for k in ("laeq", "lamin", "lamax", "intervals"):
        assert mp[k] == cp[k]
    assert len(mp["intervals"]) == 4 and mp["intervals"][-1]["duration_s"] == pytest.approx(0.1)


def test_calibration_offset_and_whole_file_interval(cli, tmp_path):
    path = write_wav(tmp_path / "t.wav", tone(16000, 0.5, 80.0), 16000, 16)
    out = json.loads(cli(path, "--json", "--interval", "0", "--calibration", "-1.5").stdout)
    assert len(out["intervals"]) == 1 and out["laeq"] == pytest.approx(78.5, abs=0.05)


def test_table_output_for_people(cli, tmp_path):
    path = write_wav(tmp_path / "t.wav", tone(48000, 0.25, 60.0), 48000, 16)
    text = cli(path).stdout
    assert "48000 Hz" in text and re.search(r"whole file\s+LAeq\s+(59\.9\d|60\.0\d)", text), text


def test_digital_silence_gives_null_levels(cli, tmp_path):
    path = write_wav(tmp_path / "z.wav", np.zeros(16000, dtype=np.int64), 16000, 16)
    out = json.loads(cli(path, "--json").stdout)
    assert out["laeq"] is None and out["intervals"][0]["laeq"] is None


@pytest.mark.parametrize("make, words", [
    (lambda p: write_wav(p, np.zeros((8000, 2)), 16000, 16, channels=2), "2 channels"),
    (lambda p: write_wav(p, np.zeros(8000), 16000, 8), "8-bit"),
    (lambda p: write_wav(p, np.zeros(8000), 16000, 32, tag=3), "compressed or not integer PCM (32-bit float)"),
    (lambda p: write_wav(p, np.zeros(8000), 16000, 16, tag=6), "A-law"),
    (lambda p: write_wav(p, np.zeros(8000), 16000, 16, tag=0x55, extensible=True), "compressed"),
    (lambda p: write_wav(p, np.zeros(8000), 22050, 16), "22050 Hz"),
    (lambda p: write_wav(p, np.zeros(0), 16000, 16), "no samples"),
    (lambda p: (p.write_bytes(b"ID3\x03\x00" + bytes(100)), p)[1], "not a WAV file"),
    (lambda p: (p.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt "), p)[1], "truncated or damaged"),
    (lambda p: p.parent / "missing.wav", "cannot read"),
])
def test_unusable_files_get_a_clear_bilingual_error(cli, tmp_path, make, words):
    path = make(tmp_path / "bad.wav")
    proc = cli(path, "--json", check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert words in proc.stderr and " / " in proc.stderr  # English / French


def test_extensible_pcm_is_accepted(cli, tmp_path):
    path = write_wav(tmp_path / "e.wav", tone(32000, 0.25, 94.0), 32000, 16, tag=1, extensible=True)
    assert json.loads(cli(path, "--json").stdout)["laeq"] == pytest.approx(94.0, abs=0.05)
