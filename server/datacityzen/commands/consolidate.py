"""`datacityzen consolidate`: load other open data beside the readings (the consolidated layer)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..consolidation.geometry import GeometryError, parse_feature_collection
from ..quantities import QUANTITIES
from ..settings import default_data_dir
from . import tables


def _data_flag(p) -> None:
    p.add_argument("--data", type=Path, default=default_data_dir(),
                   help="data directory (DCZ_DATA_DIR; default ./datacityzen-data)")


def add_parser(sub) -> None:
    con = sub.add_parser("consolidate", help="import reference stations and areas (consolidated layer)")
    csub = con.add_subparsers(dest="consolidate_command", required=True, metavar="ACTION")

    ref = csub.add_parser("import-reference", help="import a reference station's measurements from a CSV")
    ref.add_argument("file", type=Path, metavar="FILE.csv", help="CSV with a time column and value columns")
    ref.add_argument("--station", required=True, help="station id, e.g. FR31001 (Bordeaux Talence)")
    ref.add_argument("--time", required=True, help="time column (ISO 8601)")
    ref.add_argument("--value", action="append", required=True, metavar="QUANTITY=COLUMN",
                     help="a quantity and its column, e.g. pm2_5=ref_pm25 (repeatable)")
    ref.add_argument("--utc-offset", help="offset of times written without one, e.g. +01:00 (default UTC)")
    ref.add_argument("--name", help="station name")
    ref.add_argument("--lat", type=float, help="station latitude (public: a reference station is public)")
    ref.add_argument("--lon", type=float, help="station longitude")
    ref.add_argument("--source", help="where the data comes from (attribution, licence)")
    _data_flag(ref)

    areas = csub.add_parser("import-areas", help="import areas (communes, districts) from GeoJSON polygons")
    areas.add_argument("file", type=Path, metavar="FILE.geojson", help="a GeoJSON FeatureCollection")
    areas.add_argument("--id-property", help="feature property holding the area id (default: the feature id)")
    areas.add_argument("--name-property", help="feature property holding the name (default: name, else nom)")
    areas.add_argument("--kind", default="area", help="what the areas are: commune, district, ... (default area)")
    _data_flag(areas)


def _store(data_dir):
    from ..store.calibrated import open_store
    from ..store.consolidated import ConsolidatedStore

    store = open_store(data_dir)
    return store, ConsolidatedStore(store)


def cmd_import_reference(args) -> int:
    pairs = {}
    for item in args.value:
        quantity, sep, column = item.partition("=")
        if not sep or not column:
            raise ValueError(f"--value {item!r} must look like QUANTITY=COLUMN, e.g. pm2_5=ref_pm25")
        if quantity not in QUANTITIES:
            raise ValueError(f"--value {item!r}: unknown quantity {quantity!r}; known: {', '.join(sorted(QUANTITIES))}")
        pairs[quantity] = column
    if (args.lat is None) != (args.lon is None):
        raise ValueError("give both --lat and --lon, or neither")
    if args.lat is not None and not (-90 <= args.lat <= 90 and -180 <= args.lon <= 180):
        raise ValueError("--lat must be within ±90 and --lon within ±180")
    header, rows = tables.read_csv(args.file)
    tables.need_columns(args.file, header, args.time, *pairs.values())
    times = tables.times(rows, args.time, args.file, tables.parse_offset(args.utc_offset))
    values = {q: tables.floats(rows, col, args.file) for q, col in pairs.items()}
    store, consolidated = _store(args.data)
    try:
        n = consolidated.import_reference(args.station, args.name, args.lat, args.lon, args.source, times, values)
    finally:
        store.close()
    print(f"{args.station}: {n} reference values imported / valeurs de référence importées")
    return 0


def cmd_import_areas(args) -> int:
    try:
        text = args.file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{args.file}: no such file / fichier introuvable") from None
    try:
        areas = parse_feature_collection(text, args.id_property, args.name_property, args.kind)
    except GeometryError as exc:
        raise ValueError(f"{args.file}: {exc}") from None
    store, consolidated = _store(args.data)
    try:
        n = consolidated.import_areas(areas)
    finally:
        store.close()
    print(f"{n} areas imported ({args.kind}) / zones importées")
    return 0


ACTIONS = {"import-reference": cmd_import_reference, "import-areas": cmd_import_areas}


def run(args: argparse.Namespace) -> int:
    from ..store.calibrated import StoreLocked

    try:
        return ACTIONS[args.consolidate_command](args)
    except (ValueError, StoreLocked, OSError) as exc:
        print(f"datacityzen consolidate {args.consolidate_command}: {exc}", file=sys.stderr)
        return 2
