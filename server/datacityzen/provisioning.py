"""What a registration hands out: the device's configuration for flashing and its secrets, once.

`flash_config` is the device's own layer of firmware/config.py (`device.json`): its id, its kit, the
broker and its MQTT credentials, and Wi-Fi placeholders for the host to fill in at flash time.
"""
from __future__ import annotations


def uplink_topic(device_id: str) -> str:
    return f"dcz/v1/{device_id}/up"


def flash_config(device_id: str, kit: str, mqtt_host: str, mqtt_port: int, mqtt_password: str) -> dict:
    return {
        "device_id": device_id,
        "kit_id": kit,
        "wifi": {"ssid": "", "password": ""},
        "mqtt": {"host": mqtt_host, "port": mqtt_port, "username": device_id, "password": mqtt_password},
    }


def host_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/host/{token}"


def registration_output(reg, mqtt_address: tuple[str, int], base_url: str) -> dict:
    """The JSON printed by `datacityzen devices add --json` and returned by POST /api/v1/admin/devices."""
    host, port = mqtt_address
    if reg.kit == "airrohr":  # a Sensor.Community node posts over HTTP with basic auth (api/airrohr.py)
        return {
            "id": reg.id, "kit": reg.kit, "name": reg.name,
            "http": {"token": reg.http_token},
            "airrohr": {"user": reg.id, "password": reg.http_token,
                        "custom_api": f"{base_url.rstrip('/')}/api/v1/airrohr",
                        "influxdb": f"{base_url.rstrip('/')}/write?db=airrohr",
                        "sensor_community": f"{base_url.rstrip('/')}/v1/push-sensor-data/"},
            "host_url": host_url(base_url, reg.host_token),
            "public_location": {"lat": reg.public_lat, "lon": reg.public_lon, "precision_m": reg.precision_m},
            "note": "Secrets are shown once: keep this output safe. / Les secrets ne sont montrés qu'une fois.",
        }
    return {
        "id": reg.id,
        "kit": reg.kit,
        "name": reg.name,
        "config": flash_config(reg.id, reg.kit, host, port, reg.mqtt_password),
        "mqtt": {"host": host, "port": port, "username": reg.id, "password": reg.mqtt_password,
                 "topic": uplink_topic(reg.id)},
        "http": {"token": reg.http_token},
        "host_url": host_url(base_url, reg.host_token),
        "public_location": {"lat": reg.public_lat, "lon": reg.public_lon, "precision_m": reg.precision_m},
        "note": "Secrets are shown once: keep this output safe. / Les secrets ne sont montrés qu'une fois.",
    }
