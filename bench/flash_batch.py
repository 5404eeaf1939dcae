"""How long a workshop batch of ten boards takes at the flash station (simulated boards).

Each board is a fake ESP32 on a pseudo-terminal with the real MicroPython unix port behind it
(server/datacityzen/sim/fakeboard.py); the station runs its whole flow (probe, kit check, offline
registration, compile, copy with SHA-256 verification, reset, label). Baseline, in the same run: the
same firmware files copied to one board with mpremote's own `fs cp` (raw copying, nothing else).
A pty has no baud rate: a real board's USB serial at 115200 baud moves about 11 KB/s, so real
copies take longer; the printed bytes let you estimate it.

    python bench/flash_batch.py [--boards 10]
Last line: one JSON object.
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from datacityzen.flash.station import Registrar, Station, firmware_files  # noqa: E402
from datacityzen.sim.fakeboard import FakeBoard  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boards", type=int, default=10)
    ap.add_argument("--kit", default="air-outdoor-v1")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        boards = [FakeBoard(tmp / f"b{i}", unique_id=bytes([0xB0, 0, 0, 0, 0, i])) for i in range(args.boards + 1)]
        for b in boards:
            b.start()
        try:
            reg = Registrar(None, None, tmp / "out" / "registrations.json", broker=("192.168.4.1", 1883))
            st = Station(args.kit, tmp / "out", reg, site={"lat": 44.84, "lon": -0.58}, show_progress=False,
                         echo=lambda line: print(line, flush=True))
            t0 = time.perf_counter()
            results = st.run_batch([b.port for b in boards[:-1]])
            batch_s = time.perf_counter() - t0
            files = firmware_files("x64", tmp / "out" / "build", st.kit)
            total_bytes = sum(len(d) for _, d in files)
            # Baseline: mpremote copies the same tree (already compiled) onto a fresh board.
            tree = tmp / "tree"
            for path, data in files:
                (tree / path).parent.mkdir(parents=True, exist_ok=True)
                (tree / path).write_bytes(data)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "mpremote", "connect", boards[-1].port, "fs", "cp", "-r",
                            *[str(p) for p in sorted(tree.iterdir())], ":"], check=True, capture_output=True)
            baseline_s = time.perf_counter() - t0
        finally:
            for b in boards:
                b.stop()
    ok = sum(r.ok for r in results)
    per_board = batch_s / len(results)
    print(json.dumps({"boards": len(results), "ok": ok, "batch_s": round(batch_s, 2),
                      "per_board_s": round(per_board, 2), "bytes_per_board": total_bytes,
                      "baseline_mpremote_cp_s": round(baseline_s, 2),
                      "ratio_per_board_to_baseline": round(per_board / baseline_s, 2)}))


if __name__ == "__main__":
    main()
