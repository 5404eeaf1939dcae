"""Decoder of the LoRaWAN binary payload v1 (docs/wire-format.md, "LoRaWAN binary payload v1"), the
counterpart of firmware/transport/lorawan_wire.py. fPort 1 carries v1; another version gets its own
fPort, so both can run side by side.

Pure functions: bytes in, readings out, DecodeError (with a reason a person can act on) for anything
the spec rejects. The network-server webhooks (lorawan_webhooks.py) hand the application payload here
through the ingest pipeline, as a Message with transport "lorawan" and topic `lorawan/<device>/<fPort>`.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

from .wire_v1 import EARLIEST, MAX_FUTURE, SEQ_LIMIT, DecodeError, Reading, Uplink

FPORT_V1 = 1
EPOCH = 1577836800  # 2020-01-01T00:00:00Z
MAX_PAYLOAD = 242  # the largest LoRaWAN application payload of any region (RP002, AS923/US915 DR4+)
FIRMWARE = ""  # the binary payload does not say; the devices table keeps what a status said, if any
_PM = 0

# Same tables as the firmware's (tests/server/test_lorawan_v1.py keeps them equal).
FIELDS = {
    "pm1": (14, _PM, 0), "pm2_5": (14, _PM, 0), "pm4": (14, _PM, 0), "pm10": (14, _PM, 0),
    "pn_gt0_3": (24, 1, 0), "pn_gt0_5": (24, 1, 0), "pn_gt1_0": (24, 1, 0),
    "pn_gt2_5": (24, 1, 0), "pn_gt5_0": (24, 1, 0), "pn_gt10": (24, 1, 0),
    "pn_lt0_5": (20, 10, 0), "pn_lt1_0": (20, 10, 0), "pn_lt2_5": (20, 10, 0),
    "pn_lt4_0": (20, 10, 0), "pn_lt10": (20, 10, 0),
    "typical_particle_size": (11, 100, 0),
    "temperature": (11, 10, -60), "humidity": (10, 10, 0), "pressure": (13, 10, 300),
    "noise_laeq": (11, 10, 0), "noise_lamin": (11, 10, 0), "noise_lamax": (11, 10, 0),
    "gas_resistance": (30, 1, 0), "pollen_proxy": (27, 100, 0),
}
_PMS = ("pm1", "pm2_5", "pm10", "pn_gt0_3", "pn_gt0_5", "pn_gt1_0", "pn_gt2_5", "pn_gt5_0", "pn_gt10")
_SPS = ("pm1", "pm2_5", "pm4", "pm10", "pn_lt0_5", "pn_lt1_0", "pn_lt2_5", "pn_lt4_0", "pn_lt10",
        "typical_particle_size")
_NOISE = ("noise_laeq", "noise_lamin", "noise_lamax")
LAYOUTS = {
    1: ("air-outdoor-v1", None, ("pm2_5", "pm10", "temperature", "humidity", "pressure")),
    2: ("air-outdoor-v1", "sps30", _SPS + ("temperature", "humidity", "pressure")),
    3: ("air-indoor-v1", None, _PMS + ("temperature", "humidity", "pressure", "gas_resistance")),
    4: ("noise-v1", None, _NOISE),
    5: ("pollen-v1", None, _PMS + ("temperature", "humidity", "pollen_proxy")),
    6: ("pollen-v1", "sps30", _SPS + ("temperature", "humidity", "pollen_proxy")),
    7: ("exhibition-v1", None, _PMS + ("temperature", "humidity", "pressure", "gas_resistance") + _NOISE
        + ("pollen_proxy",)),
}
FLAG_BITS = ("warmup", "out_of_range", "few_samples", "high_humidity", "overload")
_TOPIC_RE = re.compile(r"lorawan/([a-z0-9-]{3,40})/([0-9]{1,3})")


def topic(device: str, fport: int) -> str:
    return f"lorawan/{device}/{fport}"


def value_of(q: str, code: int) -> float:
    """The value a code stands for (the code must not be the field's "no value" code)."""
    bits, scale, low = FIELDS[q]
    if scale == _PM:
        return code / 10 if code < 10000 else float(code - 9000)
    digits = {1: 0, 10: 1, 100: 2}[scale]
    return round(code / scale + low, digits)


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0  # bytes

    def need(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise DecodeError(f"payload ends inside {what} (byte {self.pos} of {len(self.data)})")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def varint(self, what: str) -> int:
        v = 0
        for i in range(5):
            b = self.need(1, what)[0]
            v |= (b & 0x7F) << (7 * i)
            if not b & 0x80:
                return v
        raise DecodeError(f"{what}: varint longer than 5 bytes")

    def zigzag(self, what: str) -> int:
        u = self.varint(what)
        return (u >> 1) if not u & 1 else -((u + 1) >> 1)


def _bits(data: bytes, start_bit: int, widths) -> list[int]:
    out = []
    pos = start_bit
    for w in widths:
        v = 0
        for _ in range(w):
            v = (v << 1) | ((data[pos >> 3] >> (7 - (pos & 7))) & 1)
            pos += 1
        out.append(v)
    return out


def _flags(r: _Reader, qs, where: str) -> dict[str, tuple[str, ...]]:
    bitmap = r.need((len(qs) + 7) // 8, f"{where} flags")
    out = {}
    for i, q in enumerate(qs):
        if bitmap[i >> 3] & (0x80 >> (i & 7)):
            mask = r.need(1, f"{where} flags of {q}")[0]
            if mask == 0 or mask >> len(FLAG_BITS):
                raise DecodeError(f"{where}: flag byte {mask:#04x} of {q} is empty or sets reserved bits")
            out[q] = tuple(name for b, name in enumerate(FLAG_BITS) if mask & (1 << b))
    spare = len(qs) % 8
    if spare and bitmap[-1] & ((1 << (8 - spare)) - 1):
        raise DecodeError(f"{where}: flag bitmap sets bits past the layout's {len(qs)} quantities")
    return out


def _time(t: int, now: datetime, where: str) -> datetime:
    try:
        when = datetime.fromtimestamp(t, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise DecodeError(f"{where}.time: {t} is not a representable time") from None
    if when < EARLIEST:
        raise DecodeError(f"{where}.time: {when.isoformat()} is before 2015 (clock not set?)")
    if when > now + MAX_FUTURE:
        raise DecodeError(f"{where}.time: {when.isoformat()} is more than a day in the future")
    return when


def decode_payload(payload: bytes, fport: int, now: datetime | None = None) -> tuple[str, tuple[Reading, ...]]:
    """(kit id, readings oldest first) from one application payload; DecodeError otherwise."""
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise DecodeError(f"payload must be bytes, got {type(payload).__name__}")
    data = bytes(payload)
    if fport != FPORT_V1:
        raise DecodeError(f"fPort {fport}: this server reads the LoRaWAN payload v1 on fPort {FPORT_V1}")
    if len(data) > MAX_PAYLOAD:
        raise DecodeError(f"payload of {len(data)} bytes exceeds the {MAX_PAYLOAD}-byte LoRaWAN maximum")
    if now is None:
        now = datetime.now(timezone.utc)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    r = _Reader(data)
    head = r.need(8, "the header and first reading's time")
    word = int.from_bytes(head[:4], "big")
    layout_id, seq = word >> 28, word & 0x0FFFFFFF
    if layout_id not in LAYOUTS:
        raise DecodeError(f"layout {layout_id} unknown (known: {', '.join(map(str, sorted(LAYOUTS)))})")
    kit, _, qs = LAYOUTS[layout_id]
    word = int.from_bytes(head[4:8], "big")
    has_flags, t = word >> 31, EPOCH + (word & 0x7FFFFFFF)
    widths = [FIELDS[q][0] for q in qs]
    nbits = sum(widths)
    body = r.need((nbits + 7) // 8, "the first reading's values")
    codes = _bits(body, 0, widths)
    if nbits % 8 and body[-1] & ((1 << (8 - nbits % 8)) - 1):
        raise DecodeError("readings[0]: padding bits after the values are not 0")
    readings = []
    i = 0
    while True:
        where = f"readings[{i}]"
        when = _time(t, now, where)
        values = {q: value_of(q, c) for q, c, w in zip(qs, codes, widths) if c != (1 << w) - 1}
        flags = _flags(r, qs, where) if has_flags else {}
        readings.append(Reading(seq=seq, time=when, values=values, flags=flags))
        if r.pos == len(data):
            break
        i += 1
        where = f"readings[{i}]"
        head_v = r.varint(f"{where} seq delta")
        has_flags = head_v & 1
        seq += (head_v >> 1) + 1
        if seq >= SEQ_LIMIT:
            raise DecodeError(f"{where}.seq: {seq} out of range 0..2**31-1")
        t += r.zigzag(f"{where} time delta")
        for j, w in enumerate(widths):
            c = codes[j] + r.zigzag(f"{where} {qs[j]}")
            if not 0 <= c < (1 << w):
                raise DecodeError(f"{where}.{qs[j]}: code {c} outside 0..{(1 << w) - 1}")
            codes[j] = c
    return kit, tuple(readings)


def decode_message(msg) -> Uplink:
    """A pipeline Message (transport "lorawan", topic lorawan/<device>/<fPort>) -> Uplink."""
    m = _TOPIC_RE.fullmatch(msg.topic)
    if not m:
        raise DecodeError(f"topic {msg.topic!r} is not lorawan/<device>/<fPort>")
    kit, readings = decode_payload(msg.payload, int(m.group(2)), now=msg.received_at)
    return Uplink(device=m.group(1), kit=kit, firmware=FIRMWARE, readings=readings)

