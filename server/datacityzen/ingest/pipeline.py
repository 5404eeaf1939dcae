"""From received messages to the store: decode, validate, batch, insert; quarantine what fails.

Transport-neutral: the MQTT consumer and the HTTP ingest routes both hand messages to `Ingestor`.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Sequence

import numpy as np

from ..store import device_reports
from ..store.base import InsertResult, QuarantineEntry, ReadingBatch
from ..store.calibrated import ingest_hook
from . import airrohr, lorawan_v1, wire_v1

log = logging.getLogger(__name__)

# The quarantine keeps a rejected message's bytes so a person can see what came; an oversized one
# (a broker or proxy without a size limit) keeps only its head, so junk cannot fill the disk.
QUARANTINE_KEEP_BYTES = wire_v1.MAX_PAYLOAD


# Decoders of uplink formats other than wire v1, by Message.transport (the HTTP routes of peers' formats
# put what the request said outside its body into the topic; see each module's docstring).
UPLINK_DECODERS = {"airrohr": airrohr.decode_message, "lorawan": lorawan_v1.decode_message}


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    received_at: datetime
    transport: str = "mqtt"
    radio: dict | None = None  # radio metadata (RSSI, SNR, gateway...) kept with each reading


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    statuses: int = 0
    reasons: list[str] = field(default_factory=list)  # why each quarantined message was refused, in order


def _utc_us(t: datetime) -> np.datetime64:
    return np.datetime64(t.astimezone(timezone.utc).replace(tzinfo=None), "us")


def build_batch(uplinks: Sequence[tuple[wire_v1.Uplink, Message]]) -> ReadingBatch:
    """Column arrays for the store from decoded uplinks (one row per reading, one per value)."""
    r_dev, r_seq, r_time, r_kit, r_fw, r_recv, r_tr, r_err, r_radio = ([] for _ in range(9))
    v_dev, v_seq, v_time, v_q, v_val, v_flags = ([] for _ in range(6))
    for up, msg in uplinks:
        received = _utc_us(msg.received_at)
        for reading in up.readings:
            t = _utc_us(reading.time)
            r_dev.append(up.device)
            r_seq.append(reading.seq)
            r_time.append(t)
            r_kit.append(up.kit)
            r_fw.append(up.firmware)
            r_recv.append(received)
            r_tr.append(msg.transport)
            r_err.append(json.dumps(list(reading.errors)) if reading.errors else None)
            r_radio.append(json.dumps(msg.radio, sort_keys=True) if msg.radio else None)
            for quantity, value in reading.values.items():
                v_dev.append(up.device)
                v_seq.append(reading.seq)
                v_time.append(t)
                v_q.append(quantity)
                v_val.append(value)
                v_flags.append(",".join(reading.flags.get(quantity, ())))
    obj = lambda xs: np.array(xs, dtype=object)  # noqa: E731
    return ReadingBatch(
        readings_device=obj(r_dev),
        readings_seq=np.array(r_seq, dtype=np.int64),
        readings_time=np.array(r_time, dtype="datetime64[us]"),
        readings_kit=obj(r_kit),
        readings_firmware=obj(r_fw),
        readings_received_at=np.array(r_recv, dtype="datetime64[us]"),
        readings_transport=obj(r_tr),
        readings_errors=obj(r_err),
        values_device=obj(v_dev),
        values_seq=np.array(v_seq, dtype=np.int64),
        values_time=np.array(v_time, dtype="datetime64[us]"),
        values_quantity=obj(v_q),
        values_value=np.array(v_val, dtype=np.float64),
        values_flags=obj(v_flags),
        readings_radio=obj(r_radio),
    )


class Ingestor:
    """Decode a batch of messages and store them in one transaction per batch.

    Returns only after the store committed: callers acknowledge messages to the broker after that,
    so a reading that could not be stored is redelivered, never lost.
    """

    def __init__(self, store, after_insert=None):
        self.store = store
        # Keeps the calibrated layer up to date with each committed batch (issue 6).
        self.after_insert = after_insert if after_insert is not None else ingest_hook(store)

    def reject(self, msg: Message, reason: str) -> None:
        """Quarantine a message refused before decoding (e.g. a webhook body naming no device)."""
        entry = QuarantineEntry(msg.received_at, msg.transport, msg.topic, reason,
                                bytes(msg.payload[:QUARANTINE_KEEP_BYTES]))
        self.store.quarantine([entry])
        log.warning("quarantined message on %s: %s", msg.topic, reason)

    def handle(self, messages: Sequence[Message]) -> IngestResult:
        result = IngestResult()
        uplinks: list[tuple[wire_v1.Uplink, Message]] = []
        rejected: list[QuarantineEntry] = []
        for msg in messages:
            if len(msg.payload) > wire_v1.MAX_PAYLOAD:
                rejected.append(QuarantineEntry(
                    msg.received_at, msg.transport, msg.topic,
                    f"payload of {len(msg.payload)} bytes exceeds the {wire_v1.MAX_PAYLOAD}-byte limit "
                    f"(first {QUARANTINE_KEEP_BYTES} bytes kept)",
                    bytes(msg.payload[:QUARANTINE_KEEP_BYTES]),
                ))
                continue
            try:
                decoder = UPLINK_DECODERS.get(msg.transport)
                if decoder is not None:
                    uplinks.append((decoder(msg), msg))
                    continue
                _, device, kind = wire_v1.parse_topic(msg.topic)
                if kind == "up":
                    uplinks.append((wire_v1.decode_uplink(msg.topic, msg.payload, now=msg.received_at), msg))
                elif kind == "status":
                    status = wire_v1.decode_status(msg.topic, msg.payload)
                    self.store.update_status(
                        status.device, status.state, msg.payload.decode("utf-8"), msg.received_at
                    )
                    if status.state == "online" and device_reports.supported(self.store):
                        # the config revision it applied and its spool counters, kept past its will
                        device_reports.record(self.store, status.device, status.fields, msg.received_at)
                    result.statuses += 1
                else:
                    raise wire_v1.DecodeError(f"topic kind {kind!r} is not an uplink")
            except wire_v1.DecodeError as exc:
                rejected.append(
                    QuarantineEntry(msg.received_at, msg.transport, msg.topic, str(exc), msg.payload)
                )
        if uplinks:
            batch = build_batch(uplinks)
            inserted: InsertResult = self.store.insert(batch)
            result.stored += inserted.stored
            result.duplicates += inserted.duplicates
            if self.after_insert is not None:
                self.after_insert(batch)
        if rejected:
            self.store.quarantine(rejected)
            result.quarantined += len(rejected)
            result.reasons.extend(entry.reason for entry in rejected)
            for entry in rejected:
                log.warning("quarantined message on %s: %s", entry.topic, entry.reason)
        return result
