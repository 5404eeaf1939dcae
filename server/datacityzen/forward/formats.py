"""The peers' upload formats, built from one stored reading ({quantity: value in our unit}).

Sensor.Community (`POST /v1/push-sensor-data/`, reference.md): one request per physical sensor, told by
the `X-PIN` header; values are strings; names without prefix; pressure in Pa. The airrohr firmware
writes two decimals (Float2String), and so do we.

openSenseMap (`POST /boxes/:boxId/data`, openSenseMap-API measurement decoding): a JSON array of
`{"sensor": <sensor id>, "value": "<number>", "createdAt": "<RFC 3339>"}`, at most 2,500 per request,
the box's access token in `Authorization`.
"""
from __future__ import annotations

from datetime import datetime, timezone

from .. import __version__

SOFTWARE_VERSION = f"DataCityZen-{__version__}"
OSEM_MAX_MEASUREMENTS = 2500  # openSenseMap-API validators: "at most 2500 measurements at once"

# Our quantity -> (Sensor.Community value type, factor from our unit), grouped by X-PIN.
SC_PM = {"pm1": ("P0", 1.0), "pm10": ("P1", 1.0), "pm2_5": ("P2", 1.0), "pm4": ("P4", 1.0)}
SC_CLIMATE = {"temperature": ("temperature", 1.0), "humidity": ("humidity", 1.0), "pressure": ("pressure", 100.0)}
SC_NOISE = {"noise_laeq": ("noise_LAeq", 1.0), "noise_lamin": ("noise_LA_min", 1.0), "noise_lamax": ("noise_LA_max", 1.0)}
PIN_PM, PIN_BMP280, PIN_TEMP_HUM, PIN_BME280, PIN_NOISE = 1, 3, 7, 11, 15


def _sc_items(values: dict[str, float], table: dict) -> list[dict]:
    return [{"value_type": vt, "value": f"{values[q] * factor:.2f}"} for q, (vt, factor) in table.items() if q in values]


def sensor_community_bodies(values: dict[str, float]) -> list[tuple[int, dict]]:
    """[(X-PIN, body)] for one reading: PM on pin 1; climate on pin 11 (BME280: T, RH and p), pin 3
    (BMP280: T and p, no RH) or pin 7 (T and RH, no p); noise on pin 15 (DNMS)."""
    out = []
    pm = _sc_items(values, SC_PM)
    if pm:
        out.append((PIN_PM, pm))
    climate = _sc_items(values, SC_CLIMATE)
    if climate:
        has_p, has_h = "pressure" in values, "humidity" in values
        pin = PIN_BME280 if has_p and has_h else PIN_BMP280 if has_p else PIN_TEMP_HUM
        out.append((pin, climate))
    noise = _sc_items(values, SC_NOISE)
    if noise:
        out.append((PIN_NOISE, noise))
    return [(pin, {"software_version": SOFTWARE_VERSION, "sensordatavalues": items}) for pin, items in out]


def rfc3339(t: datetime) -> str:
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    t = t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def opensensemap_measurements(values: dict[str, float], time: datetime, sensors: dict[str, str]) -> list[dict]:
    """Measurements of one reading for the quantities the box has a sensor for (`sensors`: quantity ->
    openSenseMap sensor id)."""
    return [{"sensor": sensors[q], "value": f"{v:.2f}", "createdAt": rfc3339(time)}
            for q, v in sorted(values.items()) if q in sensors]
