"""The store interface: what ingest writes and what the web layer reads.

Only modules under `datacityzen.store` import a database client. A backend stores the raw layer, one
row per (device, sequence number) with its provenance, and the values of each reading, one row per
quantity; it keeps rejected input in a quarantine; it is idempotent on (device, seq).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterator, Protocol, Sequence

import numpy as np
import pyarrow as pa

LAYERS = ("raw", "calibrated")
AGGREGATES = ("mean", "min", "max", "median", "count")


@dataclass
class ReadingBatch:
    """Readings ready to store, as column arrays (bulk inserts, never row by row).

    `readings_*` arrays have one entry per reading (device, seq); `values_*` one entry per
    (reading, quantity). Times are numpy datetime64[us] in UTC.
    """

    readings_device: np.ndarray
    readings_seq: np.ndarray
    readings_time: np.ndarray
    readings_kit: np.ndarray
    readings_firmware: np.ndarray
    readings_received_at: np.ndarray
    readings_transport: np.ndarray
    readings_errors: np.ndarray  # JSON text or None
    values_device: np.ndarray
    values_seq: np.ndarray
    values_time: np.ndarray
    values_quantity: np.ndarray
    values_value: np.ndarray
    values_flags: np.ndarray  # comma-separated flag names, "" when none
    # Radio metadata per reading (LoRaWAN RSSI/SNR/gateway, cellular signal), JSON text or None.
    readings_radio: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.readings_seq)


@dataclass
class InsertResult:
    stored: int  # readings new to the store
    duplicates: int  # readings already stored (or repeated inside the batch)
    devices: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class Selection:
    """Which values a query reads: a set of devices, quantities, a time range and a layer.

    The device set is `devices` (ids), or every device whose *public* location lies in `bbox`
    (min_lon, min_lat, max_lon, max_lat), or both (the intersection). Any other way of naming a set
    of devices (an area from GeoJSON, a host's devices) resolves to `devices` before it gets here.
    `start` is inclusive, `end` exclusive; None leaves that side open.
    """

    devices: tuple[str, ...] | None
    quantities: tuple[str, ...]
    start: datetime | None = None
    end: datetime | None = None
    layer: str = "raw"
    bbox: tuple[float, float, float, float] | None = None

    def __post_init__(self):
        if self.layer not in LAYERS:
            raise ValueError(f"layer must be one of {LAYERS}, not {self.layer!r}")
        if self.devices is None and self.bbox is None:
            raise ValueError("a selection needs devices or a bbox")


@dataclass(frozen=True)
class Aggregation:
    """Fixed windows of `every_s` seconds (aligned on UTC midnight for whole days), one statistic."""

    every_s: int
    agg: str = "mean"

    def __post_init__(self):
        if self.agg not in AGGREGATES:
            raise ValueError(f"agg must be one of {AGGREGATES}, not {self.agg!r}")
        if self.every_s < 1:
            raise ValueError("every must be at least one second")


@dataclass
class QuarantineEntry:
    received_at: datetime
    source: str
    topic: str
    reason: str
    payload: bytes


class Store(Protocol):
    def insert(self, batch: ReadingBatch) -> InsertResult: ...

    def quarantine(self, entries: Sequence[QuarantineEntry]) -> None: ...

    def update_status(self, device: str, state: str, status_json: str, received_at: datetime) -> None: ...

    def devices(self) -> list[dict]: ...

    def latest_values(self, device: str) -> dict[str, dict]: ...

    def iter_readings(
        self,
        devices: Sequence[str],
        quantities: Sequence[str],
        start: datetime | None,
        end: datetime | None,
        chunk_rows: int = 10_000,
    ) -> Iterator[list[tuple]]: ...

    def reading_batches(
        self, selection: Selection, aggregation: Aggregation | None = None, chunk_rows: int = 65_536
    ) -> pa.RecordBatchReader: ...

    def stats_batches(
        self, selection: Selection, every_s: int | None = None, pooled: bool = False, chunk_rows: int = 65_536
    ) -> pa.RecordBatchReader: ...

    def quarantined(self, limit: int = 100) -> list[dict]: ...

    def close(self) -> None: ...
