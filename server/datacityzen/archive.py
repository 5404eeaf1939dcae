"""The daily open-data archive: one day of every device, as Sensor.Community-style CSV plus one Parquet file.

Layout of `OUT/<date>/`:

* `<date>_<kit>_sensor_<device>.csv`, one per device: the raw layer, one line per reading, `;`
  separated, header `sensor_id;sensor_type;location;lat;lon;timestamp;<quantity ids...>;flags`, as in
  the Sensor.Community archive (archive.sensor.community: `<date>/<date>_<type>_sensor_<id>.csv`,
  latitude and longitude with 3 decimals);
* `<date>_datacityzen.parquet`: every value of every device, raw and calibrated layers, long format;
* `LICENSE.txt` (ODbL 1.0 notice) and `README.md` (the columns and their units).

Only the public, snapped location (device_sites.public_lat/public_lon) is ever read. Files are
written to a temporary name and renamed, in a fixed order and row-group size, so running the archive
twice for the same data gives byte-identical files.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .quantities import QUANTITIES, load_quantities

log = logging.getLogger(__name__)

QUANTITY_ORDER = {q: i for i, q in enumerate(QUANTITIES)}
ROW_GROUP_ROWS = 100_000  # fixed, so the Parquet file does not depend on how the query was batched
COORD_DECIMALS = 3  # as the Sensor.Community archive; applied to the already snapped public location

LICENSE_TEXT = """\
DataCityZen open data

This database is made available under the Open Database License (ODbL) version 1.0:
https://opendatacommons.org/licenses/odbl/1-0/
Any rights in individual contents of the database are licensed under the Database Contents License:
https://opendatacommons.org/licenses/dbcl/1-0/

Attribution: "Contains DataCityZen citizen sensor data, ODbL 1.0".
You may share, create and adapt this data if you attribute it, share any adapted database under the
ODbL (share-alike) and keep it open (no technical restrictions on a public copy).

Ces données sont publiées sous la licence ODbL 1.0 (Open Database License) ; leur contenu sous la
licence DbCL 1.0. Citez « Contient des données de capteurs citoyens DataCityZen, ODbL 1.0 ».
"""


def readme_text(day: date) -> str:
    units = "\n".join(f"| `{q}` | {meta['unit']} | {meta['label']['en']} / {meta['label']['fr']} |"
                      for q, meta in load_quantities().items())
    return f"""# DataCityZen open data, {day.isoformat()} (UTC)

Citizen environmental sensor readings of one UTC day, [00:00, 24:00). Licence: ODbL 1.0 (LICENSE.txt).
Données de capteurs citoyens d'une journée UTC. Licence : ODbL 1.0 (LICENSE.txt).

## Locations / Localisation

Locations are public cells, never a host's exact position: each device's location is snapped to a
grid of at least 100 m (more when the host asked), then rounded to {COORD_DECIMALS} decimals.
Les positions sont des cellules publiques (au moins 100 m), jamais l'adresse exacte d'un hôte.

## `{day.isoformat()}_<kit>_sensor_<device>.csv` (one file per device)

The raw layer, as the device measured it, one line per reading, `;` separated, in the layout of the
Sensor.Community archive:

| column | meaning |
|---|---|
| `sensor_id` | device id |
| `sensor_type` | kit id (the sensor kit's definition, e.g. `air-outdoor-v1`) |
| `location` | empty (no location ids are published) |
| `lat`, `lon` | public location, WGS 84 degrees |
| `timestamp` | measurement time, UTC, ISO 8601 without offset (`2026-11-23T08:00:00`) |
| one column per quantity id | the value, in the unit below; empty when not measured |
| `flags` | quality flags, space separated `quantity:flag` (e.g. `pm2_5:warmup`) |

## `{day.isoformat()}_datacityzen.parquet` (all devices)

Every value of the day, long format, ordered by device, time, sequence number, quantity, layer:
`device`, `kit`, `lat`, `lon` (public, as above), `time` (UTC timestamp), `seq` (the device's
sequence number), `quantity`, `layer` (`raw`, or `calibrated`: a corrected value), `value` (null
where a calibrated value is excluded by its flags), `flags` (comma separated), `model` and
`model_version` (the calibration that produced a calibrated value).

## Quantities / Grandeurs

| id | unit | label |
|---|---|---|
{units}
"""


@dataclass
class ArchiveResult:
    day: date
    directory: Path
    devices: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    values: int = 0


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _fmt_value(v) -> str:
    return "" if v is None else repr(float(v))


def _fmt_coord(v) -> str:
    return "" if v is None else f"{round(v, COORD_DECIMALS):.{COORD_DECIMALS}f}"


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def csv_name(day: date, kit: str | None, device: str) -> str:
    kit = _SAFE_NAME.sub("_", kit or "unknown")
    return f"{day.isoformat()}_{kit}_sensor_{_SAFE_NAME.sub('_', device)}.csv"


def device_csv(rows: list[dict]) -> tuple[str, bytes]:
    """One device's raw rows of the day -> (kit, CSV bytes) in the Sensor.Community layout."""
    raw = [r for r in rows if r["layer"] == "raw"]
    quantities = sorted({r["quantity"] for r in raw}, key=lambda q: (QUANTITY_ORDER.get(q, 10**6), q))
    readings: dict[tuple, dict] = {}
    for r in raw:
        key = (r["time"], r["seq"])
        reading = readings.setdefault(key, {"row": r, "values": {}, "flags": []})
        reading["values"][r["quantity"]] = r["value"]
        reading["flags"].extend(f"{r['quantity']}:{f}" for f in r["flags"].split(",") if f)
    header = ["sensor_id", "sensor_type", "location", "lat", "lon", "timestamp", *quantities, "flags"]
    lines = [";".join(header)]
    for (t, _seq), reading in readings.items():  # rows come ordered by time, seq
        r = reading["row"]
        lines.append(";".join([
            r["device"], r["kit"] or "", "", _fmt_coord(r["public_lat"]), _fmt_coord(r["public_lon"]),
            t.strftime("%Y-%m-%dT%H:%M:%S"),
            *(_fmt_value(reading["values"].get(q)) for q in quantities),
            " ".join(reading["flags"]),
        ]))
    kit = raw[0]["kit"] if raw else rows[0]["kit"]
    return kit, ("\n".join(lines) + "\n").encode()


PARQUET_SCHEMA = pa.schema([
    ("device", pa.string()), ("kit", pa.string()), ("lat", pa.float64()), ("lon", pa.float64()),
    ("time", pa.timestamp("us", tz="UTC")), ("seq", pa.int64()), ("quantity", pa.string()),
    ("layer", pa.string()), ("value", pa.float64()), ("flags", pa.string()), ("model", pa.string()),
    ("model_version", pa.string()),
])


def _public_columns(batch: pa.RecordBatch) -> pa.Table:
    """The archive's Parquet columns: public location rounded, times in UTC."""
    cols = {name: batch.column(name) for name in batch.schema.names}
    return pa.table({
        "device": cols["device"], "kit": cols["kit"],
        "lat": pc.round(cols["public_lat"].cast(pa.float64()), COORD_DECIMALS),
        "lon": pc.round(cols["public_lon"].cast(pa.float64()), COORD_DECIMALS),
        "time": cols["time"].cast(pa.timestamp("us", tz="UTC")),
        "seq": cols["seq"], "quantity": cols["quantity"], "layer": cols["layer"], "value": cols["value"],
        "flags": cols["flags"], "model": cols["model"], "model_version": cols["model_version"],
    }).cast(PARQUET_SCHEMA)


def archive_day(store, day: date, out: str | Path) -> ArchiveResult:
    """Write `out/<day>/` for one UTC day. A day without any value writes nothing."""
    start = datetime.combine(day, time(0), tzinfo=timezone.utc)
    directory = Path(out) / day.isoformat()
    result = ArchiveResult(day, directory)
    reader = store.day_batches(start, start + timedelta(days=1))
    parquet_path = directory / f"{day.isoformat()}_datacityzen.parquet"
    parquet_tmp = parquet_path.with_name(parquet_path.name + ".tmp")
    writer = None
    pending: list[pa.Table] = []
    pending_rows = 0
    current: list[dict] = []

    def flush_device():
        if current:
            kit, data = device_csv(current)
            path = directory / csv_name(day, kit, current[0]["device"])
            _atomic_write(path, data)
            result.devices.append(current[0]["device"])
            result.files.append(path)
            current.clear()

    try:
        for batch in reader:
            if writer is None:
                directory.mkdir(parents=True, exist_ok=True)
                writer = pq.ParquetWriter(parquet_tmp, PARQUET_SCHEMA, compression="zstd")
            table = _public_columns(batch)
            pending.append(table)
            pending_rows += table.num_rows
            while pending_rows >= ROW_GROUP_ROWS:
                whole = pa.concat_tables(pending)
                writer.write_table(whole.slice(0, ROW_GROUP_ROWS), row_group_size=ROW_GROUP_ROWS)
                rest = whole.slice(ROW_GROUP_ROWS)
                pending, pending_rows = [rest], rest.num_rows
            for row in batch.to_pylist():
                if current and row["device"] != current[0]["device"]:
                    flush_device()
                current.append(row)
                result.values += 1
        if writer is None:
            return result
        flush_device()
        if pending_rows:
            writer.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)
        writer.close()
        writer = None
        os.replace(parquet_tmp, parquet_path)
    finally:
        if writer is not None:
            writer.close()
            parquet_tmp.unlink(missing_ok=True)
    result.files.append(parquet_path)
    for name, text in (("LICENSE.txt", LICENSE_TEXT), ("README.md", readme_text(day))):
        _atomic_write(directory / name, text.encode())
        result.files.append(directory / name)
    # A device archived by an earlier run but without data now (its data was removed): not kept.
    keep = {p.name for p in result.files}
    for stale in directory.glob(f"{day.isoformat()}_*_sensor_*.csv"):
        if stale.name not in keep:
            stale.unlink()
    return result


class DailyArchiver:
    """Inside `serve`: archive yesterday (UTC) into `out` once per day, shortly after midnight.

    At start it archives yesterday unless that day's README is already there; then it sleeps until
    00:10 UTC of the next day. Re-run `datacityzen archive` by hand for a day that received late data.
    """

    def __init__(self, store, out: str | Path, after_midnight: timedelta = timedelta(minutes=10)):
        self.store, self.out, self.after_midnight = store, Path(out), after_midnight
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="daily-archive", daemon=True)
        self.last_result: ArchiveResult | None = None
        self.done = threading.Event()  # set after each pass (tests wait on it)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def run_once(self, now: datetime | None = None) -> ArchiveResult | None:
        now = now or datetime.now(timezone.utc)
        yesterday = (now - timedelta(days=1)).date()
        if (self.out / yesterday.isoformat() / "README.md").exists():
            return None
        result = archive_day(self.store, yesterday, self.out)
        if result.devices:
            log.info("archived %s: %d devices, %d values in %s", yesterday, len(result.devices),
                     result.values, result.directory)
        return result

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.last_result = self.run_once()
            except Exception:
                log.exception("daily archive failed; trying again at the next run")
            self.done.set()
            now = datetime.now(timezone.utc)
            next_run = datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=timezone.utc)
            self._stop.wait((next_run + self.after_midnight - now).total_seconds())
