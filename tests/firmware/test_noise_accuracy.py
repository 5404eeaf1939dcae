"""The noise meter against IEC 61672-1 under the real MicroPython unix port (viper kernel).

Frequency response at every one-third-octave band with tones and with band-limited noise, against
the Class 2 tolerance limits of IEC 61672-1:2002 Table 2; the 94 dB(A) reference; level linearity;
the Fast time weighting's tone-burst response and decay rate.
"""
import json
import math

import numpy as np
import pytest

from noise_signals import (TABLE_CSV, a_weighting_db, amplitude, measure, periodic_band_noise,
                           periodic_tone, to_words, warm_and_measure)
from fwsim import run_fw

# IEC 61672-1:2002 Table 2, Class 2 tolerance limits (dB) for the A weighting at the nominal
# one-third-octave frequencies, (upper, lower); None = no lower limit (-infinity). Transcribed from
# the published table (identical adoptions: EN 61672-1:2003, GOST 17187-2010 Table 2).
CLASS2_2002 = {
    10: (5.5, None), 12.5: (5.5, None), 16: (5.5, None), 20: (3.5, -3.5), 25: (3.5, -3.5),
    31.5: (3.5, -3.5), 40: (2.5, -2.5), 50: (2.5, -2.5), 63: (2.5, -2.5), 80: (2.5, -2.5),
    100: (2.0, -2.0), 125: (2.0, -2.0), 160: (2.0, -2.0), 200: (2.0, -2.0), 250: (1.9, -1.9),
    315: (1.9, -1.9), 400: (1.9, -1.9), 500: (1.9, -1.9), 630: (1.9, -1.9), 800: (1.9, -1.9),
    1000: (1.4, -1.4), 1250: (1.9, -1.9), 1600: (2.6, -2.6), 2000: (2.6, -2.6), 2500: (3.1, -3.1),
    3150: (3.1, -3.1), 4000: (3.6, -3.6), 5000: (4.1, -4.1), 6300: (5.1, -5.1), 8000: (5.6, -5.6),
    10000: (5.6, None), 12500: (6.0, None), 16000: (6.0, None), 20000: (6.0, None),
}
NOMINAL = sorted(CLASS2_2002)
# The brief's range: 31.5 Hz..12.5 kHz at 48 kHz, 31.5 Hz..4 kHz at 16 kHz.
REQUIRED = {48000: (31.5, 12500), 16000: (31.5, 4000)}


def exact(nominal):
    """Exact one-third-octave frequency, base 10 (IEC 61260): 1000 * 10^(n/10)."""
    return 1000 * 10 ** (round(10 * math.log10(nominal / 1000)) / 10)


def measured_bands(rate):
    return [f for f in NOMINAL if 20 <= f and exact(f) < 0.45 * rate]


def within_class2(nominal, deviation):
    upper, lower = CLASS2_2002[nominal]
    return deviation <= upper and (lower is None or deviation >= lower)


def test_class2_table_matches_the_shared_reference_data():
    if not TABLE_CSV.exists():
        pytest.skip("../shared/data/iec61672_a_weighting_table.csv not present")
    import csv

    with open(TABLE_CSV, newline="") as f:
        for row in csv.DictReader(f):
            upper, lower = CLASS2_2002[float(row["nominal_hz"]) if "." in row["nominal_hz"] else int(row["nominal_hz"])]
            assert float(row["class2_2002_upper_dB"]) == upper
            assert float(row["class2_2002_lower_dB"]) == (-math.inf if lower is None else lower)
            # the design goal (Annex E) agrees with the published values to their 0.1 dB rounding (A1000 is itself rounded)
            assert abs(a_weighting_db(float(row["exact_hz_base10"])) - float(row["A_nominal_dB"])) <= 0.06


def _tone_response(tmp_path, rate):
    segments, goals = [], []
    for nominal in measured_bands(rate):
        x, f = periodic_tone(rate, exact(nominal), 94.0, 0.5)
        warm, meas = warm_and_measure(x, rate)
        segments.append((rate, warm, meas))
        goals.append(94.0 + float(a_weighting_db(f)))
    levels = measure(tmp_path, segments)
    return {n: levels[i][0] - goals[i] for i, n in enumerate(measured_bands(rate))}


@pytest.mark.parametrize("rate", [48000, 16000])
def test_tone_frequency_response_within_class2(tmp_path, rate):
    dev = _tone_response(tmp_path, rate)
    lo, hi = REQUIRED[rate]
    checked = [n for n in dev if lo <= n <= hi]
    assert len(checked) == (27 if rate == 48000 else 22)
    bad = {n: round(dev[n], 2) for n in checked if not within_class2(n, dev[n])}
    assert not bad, "outside IEC 61672-1 Class 2: %s" % bad
    # Tighter than the standard asks, so a regression shows long before it breaks Class 2:
    # bilinear warping only costs anything near Nyquist.
    assert max(abs(dev[n]) for n in checked if n <= rate / 12) < 0.15
    print(json.dumps({"rate": rate, "tone_deviation_dB": {str(k): round(v, 3) for k, v in dev.items()}}))


@pytest.mark.parametrize("rate", [48000, 16000])
def test_band_noise_frequency_response_within_class2(tmp_path, rate):
    lo, hi = REQUIRED[rate]
    names = [n for n in measured_bands(rate) if lo <= n <= hi]
    segments, expected = [], []
    for i, nominal in enumerate(names):
        x, goal = periodic_band_noise(rate, exact(nominal), 90.0, 0.5, seed=1000 + i)
        warm, meas = warm_and_measure(x, rate)
        segments.append((rate, warm, meas))
        expected.append(goal)
    levels = measure(tmp_path, segments)
    dev = {n: levels[i][0] - expected[i] for i, n in enumerate(names)}
    bad = {n: round(d, 2) for n, d in dev.items() if not within_class2(n, d)}
    assert not bad, "band noise outside IEC 61672-1 Class 2: %s" % bad
    print(json.dumps({"rate": rate, "noise_deviation_dB": {str(k): round(v, 3) for k, v in dev.items()}}))


def test_reference_tone_reads_94_dba_at_every_rate(tmp_path):
    segments = []
    for rate in (16000, 32000, 44100, 48000):
        # RMS exactly 26 dB below a full-scale sine's, at 1 kHz
        x, f = periodic_tone(rate, 1000.0, 94.0, 0.5)
        assert f == 1000.0
        segments.append((rate, *warm_and_measure(x, rate)))
    for laeq, lamin, lamax in measure(tmp_path, segments):
        assert laeq == pytest.approx(94.0, abs=0.01)
        assert lamin == pytest.approx(94.0, abs=0.02) and lamax == pytest.approx(94.0, abs=0.02)


@pytest.mark.parametrize("freq", [1000.0, 8000.0])
def test_level_linearity_over_more_than_60_db(tmp_path, freq):
    rate = 48000
    levels_in = [119.0] + list(range(115, 25, -5))  # dB SPL; 120 dB is a full-scale sine
    segments, goals = [], []
    for L in levels_in:
        x, f = periodic_tone(rate, freq, L, 0.25)
        segments.append((rate, *warm_and_measure(x, rate, 0.1)))
        goals.append(L + float(a_weighting_db(f)))
    out = measure(tmp_path, segments)
    err = {L: out[i][0] - goals[i] for i, L in enumerate(levels_in)}
    ref = err[94.0] if 94.0 in err else err[95]
    # IEC 61672-1 linearity is relative to the reference level's indication
    lin = {L: e - ref for L, e in err.items()}
    assert all(abs(lin[L]) <= 0.5 for L in lin if 40 <= L <= 119), lin  # 79 dB range
    assert all(abs(lin[L]) <= 0.05 for L in lin if 40 <= L <= 119), lin  # in fact far better
    print(json.dumps({"freq": freq, "linearity_dB": {str(k): round(v, 4) for k, v in lin.items()}}))


BURST = """
from array import array
from noise.meter import NoiseMeter
from noise import aweighting
rate = 48000
m = NoiseMeter(rate)
buf = array("i", [0] * 480)
def tone(n):
    # 4 kHz at -26 dBFS: a 12-sample period at 48 kHz
    for i in range(480):
        buf[i] = int(0.05 * 2147483647 * math.sin(2 * math.pi * 4000 * i / rate))
    left = n
    while left:
        k = min(480, left)
        m.process(buf, k)
        left -= k
def silence(n):
    for i in range(480):
        buf[i] = 0
    left = n
    while left:
        k = min(480, left)
        m.process(buf, k)
        left -= k
import math
tone(rate)
steady = m.take()[0]
res = {"steady": steady, "tau": aweighting.tau_fast(rate)}
for ms in (200, 2, 0.25):
    silence(rate * 2)
    m.take()
    tone(int(rate * ms / 1000))
    silence(rate // 2)
    res[str(ms)] = m.take()[2] - steady
tone(rate)
decay = []
for _ in range(5):
    silence(rate // 10)
    decay.append(m.fast_level())
res["decay"] = decay
out(res)
"""


def test_fast_time_weighting_tone_bursts_and_decay(tmp_path):
    res = run_fw(BURST, tmp_path, heapsize="1M")
    tau = res["tau"]
    assert abs(tau - 0.125) < 0.002
    # IEC 61672-1:2002 Table 3, time weighting F, 4 kHz tone bursts: LAFmax - LA = -1.0 dB (200 ms),
    # -18.0 dB (2 ms), -27.0 dB (0.25 ms); the same as 10 log10(1 - exp(-Tb / 0.125 s)).
    for ms, ref in (("200", -1.0), ("2", -18.0), ("0.25", -27.0)):
        assert 10 * math.log10(1 - math.exp(-float(ms) / 1000 / 0.125)) == pytest.approx(ref, abs=0.05)
        assert res[ms] == pytest.approx(ref, abs=0.3), (ms, res[ms])
    # decay after the tone stops: 10 log10(e) / tau = 34.7 dB/s for tau = 125 ms
    d = res["decay"]
    rate_db_s = (d[0] - d[-1]) / 0.4
    assert rate_db_s == pytest.approx(34.7, abs=0.7)
