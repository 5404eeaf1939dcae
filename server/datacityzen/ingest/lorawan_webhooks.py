"""LoRaWAN network-server uplink webhooks: The Things Stack v3 and ChirpStack v4 (HTTP integration).

Each parser takes the request body and returns a `NetworkUplink`: which device, the application
payload (still the binary of lorawan_v1.py), when it was received and the radio metadata kept with
the readings. Anything unusable raises DecodeError with the reason (the route quarantines the body).

Every field of these JSON documents is optional (The Things Stack leaves out empty, zero and false
fields; docs: thethingsindustries.com/docs/integrations/webhooks/ and .../data-formats/). Mapping to our
device ids (docs/api.md, "LoRaWAN network servers"): the device id given at the network server, The
Things Stack's `end_device_ids.device_id` or ChirpStack's `deviceInfo.deviceName`, must be the
DataCityZen device id (3 to 40 of a-z, 0-9, -); the DevEUI is kept in the radio metadata.
Time of reception: the first gateway's time, then the network server's, then ours (as peers do).
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from .wire_v1 import DecodeError

MAX_BODY = 64 * 1024  # a webhook with dozens of gateways stays far below this
_DEVICE_RE = re.compile(r"[a-z0-9-]{3,40}")
_EUI_RE = re.compile(r"[0-9A-Fa-f]{16}")


@dataclass(frozen=True)
class NetworkUplink:
    device: str
    fport: int | None  # None: no application payload (a MAC-only frame)
    payload: bytes
    received_at: datetime
    radio: dict


def _object(body: bytes, what: str) -> dict:
    if len(body) > MAX_BODY:
        raise DecodeError(f"{what}: body of {len(body)} bytes exceeds {MAX_BODY}")
    try:
        doc = json.loads(body.decode("utf-8"), parse_constant=lambda c: None)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise DecodeError(f"{what}: not valid UTF-8 JSON ({str(e)[:80]})") from None
    if not isinstance(doc, dict):
        raise DecodeError(f"{what}: JSON must be an object, got {type(doc).__name__}")
    return doc


def _dict(x) -> dict:
    return x if isinstance(x, dict) else {}


def _list(x) -> list:
    return x if isinstance(x, list) else []


def _num(x) -> float | None:
    if type(x) in (int, float) and math.isfinite(x):
        return x
    return None


def _int(x) -> int | None:
    if type(x) is int:
        return x
    if isinstance(x, str) and x.isdigit() and len(x) < 12:  # protojson writes 64-bit ints as strings
        return int(x)
    return None


def _str(x, limit=64) -> str | None:
    return x[:limit] if isinstance(x, str) and x else None


def _time(x) -> datetime | None:
    if not isinstance(x, str) or len(x) > 40:
        return None
    text = x.strip().replace("Z", "+00:00")
    m = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?([+-]\d\d:\d\d)?", text)
    if not m:
        return None
    frac = (m.group(2) or "")[:7]  # Python reads at most microseconds; TTS writes nanoseconds
    try:
        t = datetime.fromisoformat(m.group(1) + frac + (m.group(3) or "+00:00"))
    except ValueError:
        return None
    return t.astimezone(timezone.utc)


def _seconds(x) -> float | None:
    """A protobuf JSON duration ("0.061696s") in seconds."""
    if isinstance(x, str) and re.fullmatch(r"\d{1,3}(\.\d{1,9})?s", x):
        return float(x[:-1])
    return None


def _device(x, where: str) -> str:
    if not isinstance(x, str) or not _DEVICE_RE.fullmatch(x):
        shown = json.dumps(x)[:50] if x is not None else "nothing"
        raise DecodeError(f"{where} must be the DataCityZen device id (3 to 40 of a-z, 0-9, -), got {shown}")
    return x


def _payload(x, where: str) -> bytes:
    if x is None:
        return b""
    if not isinstance(x, str):
        raise DecodeError(f"{where}: expected base64 text")
    try:
        return base64.b64decode(x, validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError(f"{where}: not valid base64") from None


def _fport(x, where: str) -> int | None:
    if x is None:
        return None
    if type(x) is not int or not 0 <= x <= 255:
        raise DecodeError(f"{where}: expected an integer 0..255, got {json.dumps(x)[:20]}")
    return x


def _eui(x) -> str | None:
    return x.upper() if isinstance(x, str) and _EUI_RE.fullmatch(x) else None


def _best_gateway(rx: list, gw_id, rssi_key: str) -> dict:
    """The metadata of the gateway that heard the frame best (highest RSSI)."""
    best = None
    for g in rx:
        g = _dict(g)
        rssi = _num(g.get(rssi_key))
        if best is None or (rssi is not None and (best[0] is None or rssi > best[0])):
            best = (rssi, g)
    if best is None:
        return {}
    g = best[1]
    return {"gateway": _str(gw_id(g)), "rssi": best[0], "snr": _num(g.get("snr"))}


def _clean(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def parse_ttn(body: bytes, now: datetime) -> NetworkUplink:
    """A The Things Stack v3 uplink message (webhook "uplink message" event)."""
    doc = _object(body, "TTN webhook")
    ids = _dict(doc.get("end_device_ids"))
    up = doc.get("uplink_message")
    if not isinstance(up, dict):
        raise DecodeError("TTN webhook: no uplink_message (only uplink messages are ingested here)")
    device = _device(ids.get("device_id"), "end_device_ids.device_id")
    rx = _list(up.get("rx_metadata"))
    first = _dict(rx[0]) if rx else {}
    received = _time(first.get("time")) or _time(up.get("received_at")) or _time(doc.get("received_at")) or now
    lora = _dict(_dict(_dict(up.get("settings")).get("data_rate")).get("lora"))
    radio = {
        "network": "ttn",
        "dev_eui": _eui(ids.get("dev_eui")),
        "application": _str(_dict(ids.get("application_ids")).get("application_id")),
        "f_cnt": _int(up.get("f_cnt")),
        "sf": _int(lora.get("spreading_factor")),
        "bandwidth": _int(lora.get("bandwidth")),
        "frequency": _int(_dict(up.get("settings")).get("frequency")),
        "gateways": len(rx),
        "airtime_s": _seconds(up.get("consumed_airtime")),
        "simulated": True if doc.get("simulated") is True else None,
    }
    radio.update(_best_gateway(rx, lambda g: _dict(g.get("gateway_ids")).get("gateway_id"), "rssi"))
    return NetworkUplink(device, _fport(up.get("f_port"), "uplink_message.f_port"),
                         _payload(up.get("frm_payload"), "uplink_message.frm_payload"), received, _clean(radio))


def parse_chirpstack(body: bytes, now: datetime) -> NetworkUplink:
    """A ChirpStack v4 HTTP integration "up" event (JSON marshaler)."""
    doc = _object(body, "ChirpStack event")
    info = _dict(doc.get("deviceInfo"))
    device = _device(info.get("deviceName"), "deviceInfo.deviceName")
    rx = _list(doc.get("rxInfo"))
    first = _dict(rx[0]) if rx else {}
    received = _time(first.get("gwTime")) or _time(first.get("nsTime")) or _time(doc.get("time")) or now
    tx = _dict(doc.get("txInfo"))
    lora = _dict(_dict(tx.get("modulation")).get("lora"))
    radio = {
        "network": "chirpstack",
        "dev_eui": _eui(info.get("devEui")),
        "application": _str(info.get("applicationName")),
        "f_cnt": _int(doc.get("fCnt")),
        "sf": _int(lora.get("spreadingFactor")),
        "bandwidth": _int(lora.get("bandwidth")),
        "frequency": _int(tx.get("frequency")),
        "gateways": len(rx),
    }
    radio.update(_best_gateway(rx, lambda g: g.get("gatewayId"), "rssi"))
    return NetworkUplink(device, _fport(doc.get("fPort"), "fPort"), _payload(doc.get("data"), "data"),
                         received, _clean(radio))
