"""Levels of a recording: the firmware's noise meter run over the samples of a mono PCM WAV file.

Used by `datacityzen noise` (server/datacityzen/noise_cli.py), which checks the file's header and
then runs this module under the MicroPython unix port (or CPython):

    analyse(path, offset, nbytes, width, rate, interval_s, calibration_db) -> dict

`offset`/`nbytes`: where the sample data lies in the file; `width`: bytes per sample (2, 3 or 4,
little-endian two's complement). Samples are widened to 32-bit words (full scale +-2**31), so a
16-bit file's full scale is the microphone's. The result: whole-file `laeq`, `lamin`, `lamax` and a
list `intervals` of the same for each `interval_s` seconds (the last one may be shorter), levels in
dB(A) rounded to 0.01 (None for digital silence).
"""
import math
from array import array

from noise.meter import NoiseMeter

_CHUNK = 4096

try:
    import sys

    if sys.implementation.name != "micropython":
        raise ImportError
    import micropython

    @micropython.viper
    def _widen_viper(src, dst, n: int, width: int):
        s = ptr8(src)
        d = ptr32(dst)
        if width == 2:
            for i in range(n):
                d[i] = (s[2 * i] << 16) | (s[2 * i + 1] << 24)
        elif width == 3:
            for i in range(n):
                d[i] = (s[3 * i] << 8) | (s[3 * i + 1] << 16) | (s[3 * i + 2] << 24)
        else:
            for i in range(n):
                d[i] = s[4 * i] | (s[4 * i + 1] << 8) | (s[4 * i + 2] << 16) | (s[4 * i + 3] << 24)
except (ImportError, SyntaxError, ValueError):
    _widen_viper = None


def _widen_plain(src, dst, n, width):
    shift = 32 - 8 * width
    for i in range(n):
        j = i * width
        v = 0
        for k in range(width):
            v |= src[j + k] << (8 * k)
        v <<= shift
        if v & 0x80000000:
            v -= 0x100000000
        dst[i] = v


def _rounded(v):
    return None if v is None else round(v, 2)


def analyse(path, offset, nbytes, width, rate, interval_s=None, calibration_db=0.0, use_viper=None):
    if width not in (2, 3, 4):
        raise ValueError("sample width %d bytes: only 16, 24 and 32-bit PCM" % width)
    meter = NoiseMeter(rate, calibration_db, use_viper)
    widen = _widen_viper if meter.viper and _widen_viper is not None else _widen_plain
    total = nbytes // width
    per = total if not interval_s else max(1, int(interval_s * rate + 0.5))
    raw = bytearray(_CHUNK * width)
    words = array("i", [0] * _CHUNK)
    intervals = []
    energy = 0.0  # whole file: sum of 10^(L/10) * samples
    lo = hi = None
    done = 0
    with open(path, "rb") as f:
        f.seek(offset)
        while done < total:
            length = min(per, total - done)
            left = length
            while left:
                k = min(_CHUNK, left)
                view = memoryview(raw)[: k * width]
                got = f.readinto(view)
                if got != k * width:
                    raise OSError("file ends %d bytes early" % ((total - done - (length - left)) * width - got))
                widen(raw, words, k, width)
                meter.process(words, k)
                left -= k
            levels = meter.take()
            laeq, lamin, lamax = levels
            if laeq is not None:
                energy += math.pow(10, laeq / 10) * length
            if lamin is not None and (lo is None or lamin < lo):
                lo = lamin
            if lamax is not None and (hi is None or lamax > hi):
                hi = lamax
            intervals.append({"start_s": round(done / rate, 6), "duration_s": round(length / rate, 6),
                              "laeq": _rounded(laeq), "lamin": _rounded(lamin), "lamax": _rounded(lamax)})
            done += length
    whole = 10 * math.log10(energy / total) if energy > 0 else None
    return {"laeq": _rounded(whole), "lamin": _rounded(lo), "lamax": _rounded(hi), "intervals": intervals,
            "samples": total, "viper": meter.viper}


def main(path, offset, nbytes, width, rate, interval_s, calibration_db=0.0):
    """Print the result as one JSON line (the CLI reads it)."""
    import json

    print(json.dumps(analyse(path, offset, nbytes, width, rate, interval_s, calibration_db)))
