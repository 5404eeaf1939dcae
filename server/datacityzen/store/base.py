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

    def quarantined(self, limit: int = 100) -> list[dict]: ...

    def close(self) -> None: ...
