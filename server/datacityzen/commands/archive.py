"""`datacityzen archive`: write one UTC day of open data (see datacityzen.archive)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from ..settings import default_data_dir


def add_parser(sub) -> None:
    archive = sub.add_parser("archive", help="write one day's open-data archive (CSV per device, Parquet, licence)")
    archive.add_argument("--date", default=None,
                         help="the UTC day to archive, YYYY-MM-DD (default: yesterday)")
    archive.add_argument("--out", type=Path, default=None,
                         help="folder that receives DATE/ (default DATA_DIR/archive)")
    archive.add_argument("--data", type=Path, default=default_data_dir(),
                         help="data directory of a stopped server (DCZ_DATA_DIR; default ./datacityzen-data)")


def run(args) -> int:
    import duckdb

    from ..archive import archive_day
    from ..store.duckdb_store import DuckDBStore

    try:
        day = date.fromisoformat(args.date) if args.date else (datetime.now(timezone.utc) - timedelta(days=1)).date()
    except ValueError:
        raise ValueError(f"--date {args.date!r} is not a day like 2026-11-23") from None
    out = args.out or Path(args.data) / "archive"
    try:
        store = DuckDBStore(args.data, read_only=True)
    except (FileNotFoundError, duckdb.IOException) as exc:
        raise ValueError(
            f"cannot open the database in {args.data} ({exc}). A running server archives yesterday into "
            f"DATA_DIR/archive by itself; to archive another day, stop it first"
        ) from None
    try:
        result = archive_day(store, day, out)
    finally:
        store.close()
    if not result.devices:
        print(f"{day}: no readings; nothing written", flush=True)
    else:
        print(f"{day}: {len(result.devices)} devices, {result.values} values -> {result.directory}", flush=True)
    return 0
