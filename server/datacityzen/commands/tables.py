"""Reading CSV columns and ISO 8601 times for the CLI commands (no pandas)."""
from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

MISSING = {"", "na", "nan", "null", "none", "-"}


class TableError(ValueError):
    pass


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            sample = f.read(4096)
            f.seek(0)
            try:
                dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
            except csv.Error:
                dialect = csv.excel
            reader = csv.DictReader(f, dialect=dialect)
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    except FileNotFoundError:
        raise TableError(f"{path}: no such file / fichier introuvable") from None
    except UnicodeDecodeError:
        raise TableError(f"{path}: not a UTF-8 text file / pas un fichier texte UTF-8") from None


def need_columns(path, header: list[str], *names) -> None:
    missing = [n for n in names if n and n not in header]
    if missing:
        raise TableError(f"{path}: no column {', '.join(repr(m) for m in missing)}; columns are "
                         f"{', '.join(header)} / colonne absente")


def floats(rows: list[dict], column: str, path="") -> np.ndarray:
    out = np.empty(len(rows), dtype=np.float64)
    for i, r in enumerate(rows):
        text = (r.get(column) or "").strip()
        if text.lower() in MISSING:
            out[i] = np.nan
            continue
        try:
            out[i] = float(text.replace(",", ".") if text.count(",") == 1 and "." not in text else text)
        except ValueError:
            raise TableError(f"{path}: row {i + 2}, column {column!r}: {text!r} is not a number "
                             f"/ n'est pas un nombre") from None
    return out


def parse_offset(text: str | None) -> timedelta:
    """'+02:00', '-5', '-05:00' -> timedelta; None -> 0."""
    if not text:
        return timedelta(0)
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    try:
        hh, _, mm = body.partition(":")
        return sign * timedelta(hours=int(hh), minutes=int(mm or 0))
    except ValueError:
        raise TableError(f"UTC offset {text!r} must look like +01:00 or -5") from None


def parse_time(text: str, naive_offset: timedelta = timedelta(0)) -> datetime:
    """ISO 8601 -> naive UTC. A time without offset is at `naive_offset` from UTC."""
    s = text.strip().replace("Z", "+00:00")
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        raise TableError(f"{text!r} is not an ISO 8601 time (e.g. 2026-11-23T08:00:00Z) "
                         f"/ n'est pas une date ISO 8601") from None
    if t.tzinfo is None:
        t = (t - naive_offset).replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).replace(tzinfo=None)


def times(rows: list[dict], column: str, path="", naive_offset: timedelta = timedelta(0)) -> np.ndarray:
    out = []
    for i, r in enumerate(rows):
        try:
            out.append(parse_time(r.get(column) or "", naive_offset))
        except TableError as exc:
            raise TableError(f"{path}: row {i + 2}, column {column!r}: {exc}") from None
    return np.array(out, dtype="datetime64[us]")
