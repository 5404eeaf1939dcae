"""Decoders for the airrohr (Sensor.Community) firmware's three push formats.

The HTTP routes (`api/airrohr.py`) check who is posting, then hand the raw body to the `Ingestor` as a
`Message(topic, payload, received_at, transport="airrohr")`. The topic carries what the HTTP request said
outside its body, so the raw body is enough to decode it again from the quarantine:

    airrohr/<device>/push/<pin>/<unix seconds>     Sensor.Community per-sensor body (X-PIN header)
    airrohr/<device>/combined/<unix seconds>       custom-API body with all sensors and `esp8266id`
    airrohr/<device>/influx/<precision>/<unix s>   InfluxDB v1 line protocol (`POST /write`)

Formats (docs/ecosystem.md; ../shared/guide/reference.md, from the airrohr firmware's own sources):
- per-sensor: `{"software_version": "...", "sensordatavalues": [{"value_type": "P1", "value": "12.30"}]}`,
  value types without the sensor prefix, the sensor told by the `X-PIN` header;
- combined: the same with prefixed value types (`SDS_P1`, `BME280_pressure`, ...) and `esp8266id`;
- line protocol: measurement `feinstaub`, tag `node=esp8266-<id>`, one field per prefixed value type.

airrohr sends no sequence number and (except a line-protocol timestamp) no time. The reading's time is
the time the server first received that body; its sequence number is derived from it:

    seq = unix_seconds(time) * 100 + slot     slot = the X-PIN (1..99) for a per-sensor push, 0 otherwise

so the per-sensor pushes of one cycle (SDS011 on pin 1, BME280 on pin 11, a second apart or less) are
distinct readings, and a body re-sent within `RepeatFilter.window_s` keeps its first time, hence its seq,
and the store (idempotent on device+seq) keeps it once.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time as _time
from collections import OrderedDict
from datetime import datetime, timezone

from .wire_v1 import EARLIEST, MAX_FUTURE, DecodeError, Reading, Uplink

KIT = "airrohr"
MAX_BODY = 16 * 1024
MAX_VALUES = 200
SEQ_SLOTS = 100  # seq = seconds * 100 + slot

# X-PIN virtual pins of the airrohr firmware (one per sensor family; reference.md, airrohr sources).
PINS = {
    1: "PM sensor (SDS011, PMS, HPM, SPS30, NPM, IPS)",
    3: "BMP180/BMP280",
    5: "PPD42NS",
    7: "DHT22/HTU21D/SHT3x",
    9: "GPS",
    11: "BME280",
    13: "DS18B20",
    15: "DNMS noise",
    17: "SCD30",
}

# Value types (prefix removed) -> (quantity id in kits/quantities.json, factor to its unit).
# P1 = PM10 and P2 = PM2.5 (historical PPD42NS channel names kept by the firmware), P0 = PM1, P4 = PM4
# (SPS30); pressure comes in Pa, our unit is hPa; N05..N10 are the SPS30 number concentrations (#/cm³)
# and TS its typical particle size (µm).
VALUE_TYPES: dict[str, tuple[str, float]] = {
    "P0": ("pm1", 1.0),
    "P1": ("pm10", 1.0),
    "P2": ("pm2_5", 1.0),
    "P4": ("pm4", 1.0),
    "temperature": ("temperature", 1.0),
    "humidity": ("humidity", 1.0),
    "pressure": ("pressure", 0.01),
    "noise_LAeq": ("noise_laeq", 1.0),
    "noise_LA_min": ("noise_lamin", 1.0),
    "noise_LA_max": ("noise_lamax", 1.0),
    "N05": ("pn_lt0_5", 1.0),
    "N1": ("pn_lt1_0", 1.0),
    "N25": ("pn_lt2_5", 1.0),
    "N4": ("pn_lt4_0", 1.0),
    "N10": ("pn_lt10", 1.0),
    "TS": ("typical_particle_size", 1.0),
}
# Sensor prefixes of the combined body and of the line protocol's field names.
PREFIXES = ("SDS", "PMS", "HPM", "NPM", "IPS", "SPS30", "SEN5X", "BME280", "BMP280", "BMP", "BME680",
            "SHT3X", "HTU21D", "DHT22", "DS18B20", "DNMS", "SCD30", "GPS", "HECA")
# Diagnostics the firmware adds to the combined body; not measurements (signal is the Wi-Fi RSSI).
DIAGNOSTICS = ("samples", "min_micro", "max_micro", "interval", "signal")

NODE_RE = re.compile(r"(esp8266|esp32)-[0-9]{1,12}")
_TOPIC_RE = re.compile(
    r"airrohr/([a-z0-9-]{3,40})/(?:push/([0-9]{1,2})|combined|influx/(ns|u|ms|s|m|h))/([0-9]{1,12})")
_PRECISION_NS = {"ns": 1, "u": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
                 "h": 3_600_000_000_000}


class AirrohrError(DecodeError):
    """The body breaks the airrohr format; str(error) says what (the body goes to the quarantine)."""


# -- identities ------------------------------------------------------------------------------------
def node_id(sensor: str) -> str:
    """`esp8266-1234567` (X-Sensor header, basic-auth user, `node` tag): checked and lower-cased."""
    s = (sensor or "").strip().lower()
    if not NODE_RE.fullmatch(s):
        raise AirrohrError(f"node {sensor!r} is not esp8266-<chip id> or esp32-<chip id>")
    return s


def node_from_chip_id(esp8266id) -> str:
    """The combined body's `esp8266id` (digits, as a string or number) -> `esp8266-<id>`."""
    text = str(esp8266id).strip() if isinstance(esp8266id, (str, int)) and not isinstance(esp8266id, bool) else ""
    if not re.fullmatch(r"[0-9]{1,12}", text):
        raise AirrohrError(f"esp8266id {esp8266id!r} must be the chip id in digits")
    return f"esp8266-{int(text)}"


def combined_node(payload: bytes) -> str | None:
    """The node a combined body names (its `esp8266id`), or None when it names none."""
    try:
        doc = json.loads(bytes(payload[:MAX_BODY]).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(doc, dict) and "esp8266id" in doc:
        return node_from_chip_id(doc["esp8266id"])
    return None


def influx_nodes(payload: bytes) -> set[str]:
    """The `node` tags of a line-protocol body (to check them against the authenticated node); lines that
    do not parse are left to the decoder, which quarantines them with the reason."""
    nodes = set()
    try:
        lines = _lines(payload)
    except AirrohrError:
        return nodes
    for line in lines:
        try:
            _, tags, _, _ = _parse_line(line)
        except AirrohrError:
            continue
        if "node" in tags:
            nodes.add(tags["node"])
    return nodes


# -- topics ----------------------------------------------------------------------------------------
def push_topic(device: str, pin: int, at_s: int) -> str:
    return f"airrohr/{device}/push/{pin}/{at_s}"


def combined_topic(device: str, at_s: int) -> str:
    return f"airrohr/{device}/combined/{at_s}"


def influx_topic(device: str, precision: str, at_s: int) -> str:
    return f"airrohr/{device}/influx/{precision}/{at_s}"


def seq_for(at_s: int, slot: int) -> int:
    return at_s * SEQ_SLOTS + slot


# -- values ----------------------------------------------------------------------------------------
def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise AirrohrError(f"{where}: expected a number or a numeric string, got {json.dumps(value)[:40]}")
    try:
        f = float(value.strip()) if isinstance(value, str) else float(value)
    except ValueError:
        raise AirrohrError(f"{where}: {value[:40]!r} is not a number") from None
    if not math.isfinite(f):
        raise AirrohrError(f"{where}: non-finite number")
    return f


def quantity_of(value_type: str, prefixed: bool) -> tuple[str, float] | None:
    """(quantity, factor) for a value type, None for a type we do not store (GPS, CO2, diagnostics)."""
    name = value_type
    if prefixed and "_" in name:
        head, rest = name.split("_", 1)
        if head.upper() in PREFIXES:
            name = rest
    return VALUE_TYPES.get(name)


def _values(pairs, prefixed: bool, where: str) -> dict[str, float]:
    """value_type/value pairs -> {quantity: value in our unit}; the first of two sensors giving the same
    quantity wins (e.g. BME280 before DS18B20 temperature), in the order the firmware sent them."""
    out: dict[str, float] = {}
    for i, (value_type, value) in enumerate(pairs):
        if not isinstance(value_type, str) or not value_type:
            raise AirrohrError(f"{where}[{i}].value_type: expected a non-empty string")
        number = _number(value, f"{where}[{i}] ({value_type})")
        if value_type in DIAGNOSTICS:
            continue
        found = quantity_of(value_type, prefixed)
        if found is None:
            continue
        quantity, factor = found
        out.setdefault(quantity, round(number * factor, 6) if factor != 1.0 else number)
    return out


def _load(payload: bytes, what: str) -> dict:
    if len(payload) > MAX_BODY:
        raise AirrohrError(f"{what}: body of {len(payload)} bytes exceeds {MAX_BODY} bytes")
    try:
        doc = json.loads(bytes(payload).decode("utf-8"))
    except UnicodeDecodeError as e:
        raise AirrohrError(f"{what}: body is not UTF-8 (byte {e.start})") from None
    except (ValueError, RecursionError) as e:
        raise AirrohrError(f"{what}: not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise AirrohrError(f"{what}: JSON must be an object")
    items = doc.get("sensordatavalues")
    if not isinstance(items, list) or not items:
        raise AirrohrError(f"{what}: sensordatavalues must be a non-empty list")
    if len(items) > MAX_VALUES:
        raise AirrohrError(f"{what}: {len(items)} values, at most {MAX_VALUES}")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise AirrohrError(f"{what}: sensordatavalues[{i}] must be an object")
    return doc


def _software(doc: dict) -> str:
    v = doc.get("software_version", "")
    if not isinstance(v, str) or len(v) > 64:
        raise AirrohrError("software_version must be a string of at most 64 characters")
    return v or "unknown"


def _time_of(at_s: int, now: datetime) -> datetime:
    when = datetime.fromtimestamp(at_s, tz=timezone.utc)
    if when < EARLIEST or when > now + MAX_FUTURE:
        raise AirrohrError(f"time {when.isoformat()} is outside 2015 .. now + 1 day")
    return when


def decode_push(device: str, pin: int, payload: bytes, at_s: int, now: datetime) -> Uplink:
    """A Sensor.Community per-sensor body (names without prefix) for virtual pin `pin`."""
    if pin not in PINS:
        raise AirrohrError(f"X-PIN {pin} is not an airrohr sensor pin ({', '.join(map(str, PINS))})")
    doc = _load(payload, "push")
    pairs = [(it.get("value_type"), it.get("value")) for it in doc["sensordatavalues"]]
    values = _values(pairs, prefixed=False, where="sensordatavalues")
    if not values:
        raise AirrohrError("push: no value type we store (P0, P1, P2, temperature, humidity, pressure, noise_LAeq, ...)")
    reading = Reading(seq=seq_for(at_s, pin), time=_time_of(at_s, now), values=values)
    return Uplink(device=device, kit=KIT, firmware=_software(doc), readings=(reading,))


def decode_combined(device: str, payload: bytes, at_s: int, now: datetime) -> Uplink:
    """The combined body of the custom API: all sensors, prefixed names, `esp8266id` first."""
    doc = _load(payload, "combined")
    if "esp8266id" in doc and node_from_chip_id(doc["esp8266id"]) != device:
        raise AirrohrError(f"esp8266id {doc['esp8266id']!r} is not the node {device!r}")
    pairs = [(it.get("value_type"), it.get("value")) for it in doc["sensordatavalues"]]
    values = _values(pairs, prefixed=True, where="sensordatavalues")
    if not values:
        raise AirrohrError("combined: no value type we store (SDS_P1, SDS_P2, BME280_temperature, ...)")
    reading = Reading(seq=seq_for(at_s, 0), time=_time_of(at_s, now), values=values)
    return Uplink(device=device, kit=KIT, firmware=_software(doc), readings=(reading,))


# -- InfluxDB v1 line protocol ---------------------------------------------------------------------
def _lines(payload: bytes) -> list[str]:
    if len(payload) > MAX_BODY:
        raise AirrohrError(f"line protocol: body of {len(payload)} bytes exceeds {MAX_BODY} bytes")
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError as e:
        raise AirrohrError(f"line protocol: body is not UTF-8 (byte {e.start})") from None
    lines = [ln for ln in text.replace("\r\n", "\n").split("\n") if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise AirrohrError("line protocol: empty body")
    return lines


def _split_unescaped(text: str, sep: str, quotes: bool = False) -> list[str]:
    """Split on `sep` outside backslash escapes (and outside double quotes when `quotes`)."""
    parts, buf, i, in_q = [], [], 0, False
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            buf.append(text[i:i + 2])
            i += 2
            continue
        if quotes and c == '"':
            in_q = not in_q
        elif c == sep and not in_q:
            parts.append("".join(buf))
            buf = []
            i += 1
            continue
        buf.append(c)
        i += 1
    if in_q:
        raise AirrohrError("line protocol: unterminated string field")
    parts.append("".join(buf))
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _parse_line(line: str) -> tuple[str, dict[str, str], list[tuple[str, object]], int | None]:
    """`measurement[,tag=v...] field=v[,field=v...] [timestamp]` -> (measurement, tags, fields, ts)."""
    sections = _split_unescaped(line.strip(), " ", quotes=True)
    sections = [s for s in sections if s != ""]
    if len(sections) not in (2, 3):
        raise AirrohrError(f"line protocol: expected 'measurement,tags fields [timestamp]' in {line[:60]!r}")
    head = _split_unescaped(sections[0], ",")
    measurement = _unescape(head[0])
    if not measurement:
        raise AirrohrError(f"line protocol: missing measurement in {line[:60]!r}")
    tags = {}
    for t in head[1:]:
        kv = _split_unescaped(t, "=")
        if len(kv) != 2 or not kv[0]:
            raise AirrohrError(f"line protocol: bad tag {t[:40]!r}")
        tags[_unescape(kv[0])] = _unescape(kv[1])
    fields: list[tuple[str, object]] = []
    for f in _split_unescaped(sections[1], ",", quotes=True):
        kv = _split_unescaped(f, "=", quotes=True)
        if len(kv) != 2 or not kv[0] or not kv[1]:
            raise AirrohrError(f"line protocol: bad field {f[:40]!r}")
        key, raw = _unescape(kv[0]), kv[1]
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            value: object = re.sub(r'\\(["\\])', r"\1", raw[1:-1])
        elif raw in ("t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"):
            value = raw  # booleans are not measurements
        elif raw.endswith(("i", "u")) and re.fullmatch(r"-?[0-9]+[iu]", raw):
            value = raw[:-1]
        else:
            value = raw
        fields.append((key, value))
    ts = None
    if len(sections) == 3:
        if not re.fullmatch(r"-?[0-9]{1,19}", sections[2]):
            raise AirrohrError(f"line protocol: timestamp {sections[2][:24]!r} is not an integer")
        ts = int(sections[2])
    return measurement, tags, fields, ts


def decode_influx(device: str, precision: str, payload: bytes, at_s: int, now: datetime) -> Uplink:
    """Line protocol from airrohr's InfluxDB option: each line one reading of the node (tag `node`);
    lines without a timestamp take the receive time. Fields that are not numbers are skipped."""
    per_time: dict[int, dict[str, float]] = {}
    for line in _lines(payload):
        _, tags, fields, ts = _parse_line(line)
        node = tags.get("node")
        if node is not None and node_id(node) != device:
            raise AirrohrError(f"line protocol: node {node!r} is not the authenticated node {device!r}")
        t_s = at_s if ts is None else ts * _PRECISION_NS[precision] // 1_000_000_000
        pairs = []
        for key, value in fields:
            if isinstance(value, str) and value in ("t", "T", "true", "True", "TRUE", "f", "F", "false",
                                                     "False", "FALSE"):
                continue
            if quantity_of(key, prefixed=True) is None:
                continue  # not stored: no need to parse (strings such as software versions)
            pairs.append((key, value))
        values = _values(pairs, prefixed=True, where="fields")
        if values:
            merged = per_time.setdefault(t_s, {})
            for q, v in values.items():
                merged.setdefault(q, v)
    if not per_time:
        raise AirrohrError("line protocol: no field we store (SDS_P1, SDS_P2, BME280_temperature, ...)")
    readings = tuple(
        Reading(seq=seq_for(t_s, 0), time=_time_of(t_s, now), values=vals)
        for t_s, vals in sorted(per_time.items())
    )
    return Uplink(device=device, kit=KIT, firmware="influx", readings=readings)


def decode_message(msg) -> Uplink:
    """The Ingestor's entry point for transport 'airrohr' (see the module docstring for the topics)."""
    m = _TOPIC_RE.fullmatch(msg.topic)
    if not m:
        raise AirrohrError(f"topic {msg.topic!r} is not an airrohr topic")
    device, pin, precision, at = m.group(1), m.group(2), m.group(3), int(m.group(4))
    now = msg.received_at if msg.received_at.tzinfo else msg.received_at.replace(tzinfo=timezone.utc)
    if pin is not None:
        return decode_push(device, int(pin), msg.payload, at, now)
    if precision is not None:
        return decode_influx(device, precision, msg.payload, at, now)
    return decode_combined(device, msg.payload, at, now)


class RepeatFilter:
    """Gives a body re-sent within `window_s` seconds the time it was first received.

    airrohr bodies carry no time; keying on (device, slot, SHA-256 of the body) makes a repeated POST
    (a retrying proxy, a replay) land on the same seq, so it is stored once. Real cycles are at least
    the SDS011's 20 s of warm-up and reading apart (145 s by default), so the window is kept below that.
    Bounded: the oldest entries are dropped past `max_entries`.
    """

    def __init__(self, window_s: float = 15.0, max_entries: int = 10_000, clock=_time.time):
        self.window_s = window_s
        self.max_entries = max_entries
        self._clock = clock
        self._seen: OrderedDict[tuple, float] = OrderedDict()
        self._lock = threading.Lock()

    def time_for(self, device: str, slot: str, payload: bytes) -> int:
        """Unix seconds to use for this body."""
        now = self._clock()
        key = (device, slot, hashlib.sha256(payload).digest())
        with self._lock:
            first = self._seen.get(key)
            if first is not None and now - first <= self.window_s:
                return int(first)
            self._seen[key] = now
            self._seen.move_to_end(key)
            while len(self._seen) > self.max_entries:
                self._seen.popitem(last=False)
        return int(now)
