"""Test signals for the noise meter (numpy, CPython side) and a runner that measures them under MicroPython.

Signals are int32 words like a 24-bit I2S microphone's (full scale +-2**31, the 8 low bits zero). A
level in dB SPL maps to words through the kits' reference: a sine at L dB SPL has an RMS (L - 120) dB
relative to a full-scale sine's (sensitivity -26 dBFS at 94 dB SPL).
"""
import csv
import json
import math
from pathlib import Path

import numpy as np

from fwsim import run_fw

FS = 2.0 ** 31
TABLE_CSV = Path("/work/shared/data/iec61672_a_weighting_table.csv")
_HERE = Path(__file__).resolve()
for parent in _HERE.parents:
    if (parent / "shared" / "data" / "iec61672_a_weighting_table.csv").exists():
        TABLE_CSV = parent / "shared" / "data" / "iec61672_a_weighting_table.csv"
        break

F1, F2, F3, F4 = 20.598997, 107.65265, 737.86223, 12194.217  # IEC 61672-1:2002 Annex E


def a_weighting_db(f):
    """Design goal A(f), IEC 61672-1:2002 Annex E (numpy, vectorised); 0 dB at 1 kHz."""
    f = np.asarray(f, dtype=float)
    f2 = f * f
    with np.errstate(divide="ignore"):
        num = F4 ** 2 * f2 ** 2
        den = (f2 + F1 ** 2) * np.sqrt((f2 + F2 ** 2) * (f2 + F3 ** 2)) * (f2 + F4 ** 2)
        return 20 * np.log10(num / den) + 2.0


def bands():
    """Rows of the shared IEC 61672-1 table (nominal, exact frequency, tolerances)."""
    with open(TABLE_CSV, newline="") as f:
        return list(csv.DictReader(f))


def to_words(x):
    """Float signal in units of full scale -> int32 words quantised to 24 bits (as an INMP441)."""
    codes = np.clip(np.round(np.asarray(x) * 2 ** 23), -2 ** 23, 2 ** 23 - 1).astype(np.int64)
    return (codes << 8).astype("<i4")


def amplitude(db_spl):
    """Peak (in units of full scale) of a sine at db_spl."""
    return 10 ** ((db_spl - 120.0) / 20.0)


def periodic_tone(rate, f, db_spl, seconds):
    """A whole number of cycles of a sine near f lasting about `seconds`; returns (x, exact f)."""
    n = max(1, round(seconds * rate))
    cycles = max(1, round(f * n / rate))
    f_exact = cycles * rate / n
    t = np.arange(n)
    return amplitude(db_spl) * np.sin(2 * np.pi * cycles * t / n), f_exact


def periodic_band_noise(rate, centre, db_spl, seconds, seed):
    """One period of Gaussian noise limited to the one-third-octave band around `centre` (FFT
    brick-wall), scaled to the RMS of a sine at db_spl; returns (x, expected LAeq from the Annex E
    design goal applied bin by bin)."""
    n = round(seconds * rate)
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / rate)
    keep = (freqs >= centre * 2 ** (-1 / 6)) & (freqs < centre * 2 ** (1 / 6))
    spec[~keep] = 0
    x = np.fft.irfft(spec, n)
    x *= (amplitude(db_spl) / math.sqrt(2)) / np.sqrt(np.mean(x ** 2))
    spec = np.fft.rfft(x)
    power = np.abs(spec) ** 2 * 2 / n ** 2  # mean square per bin (no DC/Nyquist content here)
    ms_a = float(np.sum(power * 10 ** (a_weighting_db(np.where(freqs > 0, freqs, 1.0)) / 10)))
    expected = 120.0 + 10 * math.log10(ms_a / 0.5)
    return x, expected


MEASURE = """
from array import array
from noise.meter import NoiseMeter
man = json.load(open("manifest.json"))
buf = array("i", [0] * 4096)
f = open("signal.raw", "rb")
res = []
for rate, warm, meas, viper in man:
    m = NoiseMeter(rate, use_viper=viper)
    levels = None
    for n in (warm, meas):
        left = n
        while left:
            k = min(4096, left)
            f.readinto(memoryview(buf)[:k])
            m.process(buf, k)
            left -= k
        levels = m.take()
        m.restart_fast()  # as the sensor does once the filter has settled
    res.append(levels)
out(res)
"""


def measure(tmp_path, segments, viper=True, heapsize="4M"):
    """segments: list of (rate, warm-up words, measured words). Each segment is measured by a fresh
    meter: the warm-up part is processed and discarded, then (laeq, lamin, lamax) of the rest."""
    with open(tmp_path / "signal.raw", "wb") as f:
        manifest = []
        for rate, warm, meas in segments:
            f.write(np.asarray(warm, dtype="<i4").tobytes())
            f.write(np.asarray(meas, dtype="<i4").tobytes())
            manifest.append([rate, len(warm), len(meas), viper])
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return run_fw(MEASURE, tmp_path, heapsize=heapsize, timeout=120)


def warm_and_measure(x, rate, warm_s=0.25):
    """A periodic signal x: its last warm_s seconds as warm-up, then one period measured."""
    w = to_words(x)
    k = min(len(w), round(warm_s * rate))
    return w[len(w) - k:], w
