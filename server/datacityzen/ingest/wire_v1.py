"""Decoder of wire format v1 (docs/wire-format.md), the counterpart of firmware/transport/wire.py.

Anything the spec rejects raises DecodeError with a reason a person can act on; the caller quarantines
the raw bytes with that reason. One bad field rejects the whole message.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from ..quantities import QUANTITIES

VERSION = 1
MAX_PAYLOAD = 16 * 1024
MAX_READINGS = 100
SEQ_LIMIT = 2**31
EARLIEST = datetime(2015, 1, 1, tzinfo=timezone.utc)
MAX_FUTURE = timedelta(days=1)
# An uplink's "sent" (the device clock as it sent) later than its reception by more than this means the
# device clock runs ahead (network and broker delays only ever make "sent" earlier): its readings' times
# are moved back by the difference and flagged. Five minutes: well above NTP error and clock drift.
CLOCK_AHEAD_TOLERANCE_S = 300
CLOCK_CORRECTED = "clock_corrected"
KINDS = ("up", "status", "config")
# Flag names the firmware sets (docs/wire-format.md, readings[].flags). Unknown names are still stored
# as sent (forward compatibility within v1); this list is what pages and exports can explain.
KNOWN_FLAGS = ("warmup", "out_of_range", "few_samples", "high_humidity", "overload")
STATES = ("online", "offline")

_DEVICE_RE = re.compile(r"[a-z0-9-]{3,40}")
_TOPIC_RE = re.compile(r"dcz/v([0-9]{1,3})/([^/]*)/([^/]*)")


class DecodeError(ValueError):
    """The message breaks wire format v1; str(error) is the reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Reading:
    seq: int
    time: datetime  # UTC, tz-aware
    values: dict[str, float]
    flags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    errors: tuple[dict, ...] = ()


@dataclass(frozen=True)
class Uplink:
    device: str
    kit: str
    firmware: str
    readings: tuple[Reading, ...]


@dataclass(frozen=True)
class Status:
    device: str
    state: str
    fields: dict  # every other member of the status object (kit, firmware, uptime_s, ...)


def parse_topic(topic: str) -> tuple[int, str, str]:
    """`dcz/v<version>/<device>/<kind>` -> (version, device, kind)."""
    m = _TOPIC_RE.fullmatch(topic)
    if not m:
        raise DecodeError(f"topic {topic!r} is not dcz/v<version>/<device>/<up|status|config>")
    version, device, kind = int(m.group(1)), m.group(2), m.group(3)
    if not _DEVICE_RE.fullmatch(device):
        raise DecodeError(f"topic {topic!r}: device id must be 3 to 40 characters of a-z, 0-9 and -")
    if kind not in KINDS:
        raise DecodeError(f"topic {topic!r}: unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    return version, device, kind


def _reject_constant(name):
    raise DecodeError(f"non-finite number {name} in JSON")


def _load_object(payload: bytes, what: str) -> dict:
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise DecodeError(f"{what}: payload must be bytes, got {type(payload).__name__}")
    if len(payload) > MAX_PAYLOAD:
        raise DecodeError(f"{what}: payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD}-byte limit")
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError as e:
        raise DecodeError(f"{what}: payload is not UTF-8 (byte {e.start})") from None
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except DecodeError:
        raise
    except (ValueError, RecursionError) as e:
        raise DecodeError(f"{what}: not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise DecodeError(f"{what}: JSON must be an object, got {type(doc).__name__}")
    v = doc.get("version")
    if type(v) is not int or v != VERSION:
        raise DecodeError(f"{what}: version {v!r}, this decoder reads version {VERSION}")
    return doc


def _check_topic(topic: str, want_kind: str) -> str:
    version, device, kind = parse_topic(topic)
    if version != VERSION:
        raise DecodeError(f"topic {topic!r} is wire format v{version}, this decoder reads v{VERSION}")
    if kind != want_kind:
        raise DecodeError(f"topic {topic!r} carries {kind!r}, expected {want_kind!r}")
    return device


def _check_device(doc: dict, device: str, what: str) -> None:
    d = doc.get("device")
    if not isinstance(d, str):
        raise DecodeError(f"{what}: device must be a string, got {d!r}")
    if d != device:
        raise DecodeError(f"{what}: device {d!r} differs from the topic's {device!r}")


def _is_number(x) -> bool:
    return type(x) in (int, float)  # bool is an int subclass: excluded on purpose


def _number(x, where: str) -> float:
    if not _is_number(x):
        raise DecodeError(f"{where}: expected a number, got {json.dumps(x)[:40]}")
    f = float(x) if not isinstance(x, int) or abs(x) < 2**63 else math.inf
    if not math.isfinite(f):
        raise DecodeError(f"{where}: non-finite number")
    return f


def _str(x, where: str) -> str:
    if not isinstance(x, str):
        raise DecodeError(f"{where}: expected a string, got {json.dumps(x)[:40]}")
    return x


def _quantity(q: str, where: str) -> str:
    if q not in QUANTITIES:
        raise DecodeError(f"{where}: unknown quantity id {q!r} (see kits/quantities.json)")
    return q


def _reading(r, i: int, now: datetime, ahead: timedelta | None = None) -> Reading:
    where = f"readings[{i}]"
    if not isinstance(r, dict):
        raise DecodeError(f"{where}: expected an object")
    seq = r.get("seq")
    if type(seq) is not int:
        raise DecodeError(f"{where}.seq: expected an integer, got {json.dumps(seq)[:40]}")
    if not 0 <= seq < SEQ_LIMIT:
        raise DecodeError(f"{where}.seq: {seq} out of range 0..2**31-1")
    t = _number(r.get("time"), f"{where}.time")
    try:
        when = datetime.fromtimestamp(t, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise DecodeError(f"{where}.time: {t} is not a representable time") from None
    if ahead is not None:
        try:
            when -= ahead
        except OverflowError:
            raise DecodeError(f"{where}.time: {t} is not a representable time once corrected") from None
    if when < EARLIEST:
        raise DecodeError(f"{where}.time: {when.isoformat()} is before 2015 (clock not set?)")
    if when > now + MAX_FUTURE:
        raise DecodeError(f"{where}.time: {when.isoformat()} is more than a day in the future")
    vals = r.get("values")
    if not isinstance(vals, dict):
        raise DecodeError(f"{where}.values: expected an object")
    values = {_quantity(q, f"{where}.values"): _number(v, f"{where}.values.{q}") for q, v in vals.items()}
    flags: dict[str, tuple[str, ...]] = {}
    raw_flags = r.get("flags", {})
    if not isinstance(raw_flags, dict):
        raise DecodeError(f"{where}.flags: expected an object")
    for q, names in raw_flags.items():
        _quantity(q, f"{where}.flags")
        if not isinstance(names, list):
            raise DecodeError(f"{where}.flags.{q}: expected a list of flag names")
        flags[q] = tuple(_str(n, f"{where}.flags.{q}") for n in names)
    if ahead is not None:
        for q in values:
            flags[q] = flags.get(q, ()) + (CLOCK_CORRECTED,)
    raw_errors = r.get("errors", [])
    if not isinstance(raw_errors, list):
        raise DecodeError(f"{where}.errors: expected a list")
    errors = []
    for j, e in enumerate(raw_errors):
        if not isinstance(e, dict):
            raise DecodeError(f"{where}.errors[{j}]: expected an object")
        errors.append({
            "sensor": _str(e.get("sensor"), f"{where}.errors[{j}].sensor"),
            "error": _str(e.get("error"), f"{where}.errors[{j}].error"),
        })
    return Reading(seq=seq, time=when, values=values, flags=flags, errors=tuple(errors))


def _clock_ahead(sent, now: datetime) -> timedelta | None:
    """How far ahead the device clock runs, from the uplink's optional "sent"; None when within the
    tolerance (or behind: a delayed delivery looks the same, so nothing is corrected)."""
    if sent is None:
        return None
    s = _number(sent, "uplink.sent")
    ahead = s - now.timestamp()
    if ahead <= CLOCK_AHEAD_TOLERANCE_S:
        return None
    if ahead > 1e11:  # beyond year 5000: not a clock
        raise DecodeError(f"uplink.sent: {s} is not a representable time")
    return timedelta(seconds=round(ahead))


def decode_uplink(topic: str, payload: bytes, now: datetime | None = None) -> Uplink:
    """Decode and validate one uplink; `now` (default: the clock) bounds times in the future."""
    device = _check_topic(topic, "up")
    doc = _load_object(payload, "uplink")
    _check_device(doc, device, "uplink")
    kit = _str(doc.get("kit"), "uplink.kit")
    firmware = _str(doc.get("firmware"), "uplink.firmware")
    readings = doc.get("readings")
    if not isinstance(readings, list):
        raise DecodeError("uplink.readings: expected a list")
    if not 1 <= len(readings) <= MAX_READINGS:
        raise DecodeError(f"uplink.readings: {len(readings)} readings, allowed 1 to {MAX_READINGS}")
    if now is None:
        now = datetime.now(timezone.utc)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    ahead = _clock_ahead(doc.get("sent"), now)
    out = tuple(_reading(r, i, now, ahead) for i, r in enumerate(readings))
    for i in range(1, len(out)):
        if out[i].seq <= out[i - 1].seq:
            raise DecodeError(f"readings[{i}].seq: {out[i].seq} does not increase (oldest first)")
    return Uplink(device=device, kit=kit, firmware=firmware, readings=out)


def decode_status(topic: str, payload: bytes) -> Status:
    device = _check_topic(topic, "status")
    doc = _load_object(payload, "status")
    _check_device(doc, device, "status")
    state = doc.get("state")
    if state not in STATES:
        raise DecodeError(f"status.state: {state!r}, expected one of {', '.join(STATES)}")
    fields = {k: v for k, v in doc.items() if k not in ("version", "device", "state")}
    return Status(device=device, state=state, fields=fields)
