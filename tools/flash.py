#!/usr/bin/env python3
"""The workshop flash station: the same as `datacityzen flash` (see docs/cli.md, docs/workshops/).

    python tools/flash.py --kit air-outdoor-v1 --batch --server http://LAPTOP:8080 --lat 44.84 --lon -0.58

Runs from a clone without installing (the server package is found beside this file).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from datacityzen.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["flash", *sys.argv[1:]]))
