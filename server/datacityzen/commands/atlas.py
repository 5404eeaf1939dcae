"""`datacityzen atlas`: import the mediators' places file into the atlas; list what is on it."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..settings import default_data_dir


def add_parser(sub) -> None:
    p = sub.add_parser("atlas", help="import the atlas places (fablabs, public digital spaces, exhibition stops, partners)")
    asub = p.add_subparsers(dest="atlas_command", required=True, metavar="ACTION")
    imp = asub.add_parser("import", help="replace the atlas places with those of a GeoJSON or CSV file")
    imp.add_argument("file", type=Path, metavar="FILE", help="GeoJSON FeatureCollection of Points, or CSV")
    imp.add_argument("--data", type=Path, default=default_data_dir(), help="data directory (DCZ_DATA_DIR)")
    lst = asub.add_parser("list", help="the places on the atlas")
    lst.add_argument("--data", type=Path, default=default_data_dir(), help="data directory (DCZ_DATA_DIR)")


def run(args: argparse.Namespace) -> int:
    from ..atlas import AtlasFileError, parse_places
    from ..store.atlas_places import AtlasPlaces
    from ..store.calibrated import StoreLocked, open_store

    try:
        if args.atlas_command == "import":
            text = args.file.read_text(encoding="utf-8")
            places = parse_places(text, args.file.name)
            store = open_store(args.data)
            try:
                n = AtlasPlaces.of(store).replace_all(places)
            finally:
                store.close()
            print(f"{n} places imported / {n} lieux importés from {args.file}")
            return 0
        store = open_store(args.data)
        try:
            for p in AtlasPlaces.of(store).all():
                print(f"{p['id']}\t{p['kind']}\t{p['name']}\t{p['lat']:.5f},{p['lon']:.5f}")
        finally:
            store.close()
        return 0
    except AtlasFileError as exc:
        print(f"datacityzen atlas import: {args.file}: nothing imported / rien importé", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    except (StoreLocked, OSError, UnicodeDecodeError) as exc:
        print(f"datacityzen atlas {args.atlas_command}: {exc}", file=sys.stderr)
        return 2
