"""One settings object, from command-line flags with `DCZ_`-prefixed environment variables as defaults."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse


def env(name: str, default=None):
    """The value of DCZ_<NAME>, or `default`."""
    return os.environ.get(f"DCZ_{name}", default)


def default_data_dir() -> Path:
    return Path(env("DATA_DIR", "datacityzen-data"))


def parse_mqtt_url(url: str) -> tuple[str, int]:
    """`mqtt://host:port` -> (host, port); a clear error for anything else."""
    parsed = urlparse(url)
    if parsed.scheme != "mqtt" or not parsed.hostname:
        raise ValueError(f"broker URL {url!r} must look like mqtt://HOST:PORT")
    return parsed.hostname, parsed.port or 1883


@dataclass
class Settings:
    data_dir: Path
    host: str = "127.0.0.1"
    http_port: int = 8080
    mqtt_port: int = 1883
    broker: str | None = None  # external broker URL; None = run the embedded one
    # Secrets come from the environment only (DCZ_ADMIN_TOKEN, DCZ_SMTP_PASSWORD): a command-line
    # flag would show in `ps` to every user of the machine. repr=False keeps them out of logs.
    admin_token: str | None = field(default=None, repr=False)
    public_url: str | None = None  # base of the links given out (host links); default: the HTTP address
    public_mqtt: str | None = None  # mqtt://HOST:PORT written into device configs; default: the broker
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str = "datacityzen@localhost"
    smtp_starttls: bool = False
    alert_interval_s: float = 60.0
    # Host-chosen webhooks may not target loopback or private addresses (the server would otherwise
    # reach services behind its firewall for anyone holding a host link); tests and LANs opt in.
    webhook_allow_private: bool = False
    # MQTT (docs/security.md): the embedded broker refuses clients without a registered device's
    # credentials unless allow_anonymous (older setups). With an external broker the server logs in as
    # broker_username/broker_password (DCZ_BROKER_USERNAME/DCZ_BROKER_PASSWORD, or the internal user
    # `datacityzen broker-config` created in the data directory).
    allow_anonymous: bool = False
    broker_username: str | None = None
    broker_password: str | None = field(default=None, repr=False)
    # Time-series mirror (InfluxDB-v2-compatible line protocol); None = no mirror.
    influx_url: str | None = None
    influx_token: str | None = field(default=None, repr=False)
    influx_org: str = "datacityzen"
    influx_bucket: str = "datacityzen"
    # Shared secret of the LoRaWAN network-server webhooks (api/lorawan.py): the Bearer token The Things
    # Stack or ChirpStack sends; None = those routes refuse every request.
    ttn_secret: str | None = field(default=None, repr=False)
    daily_archive: bool = True  # archive yesterday into data_dir/archive once a day

    @property
    def device_broker_address(self) -> tuple[str, int]:
        """The broker address written into a device's configuration."""
        if self.public_mqtt:
            return parse_mqtt_url(self.public_mqtt)
        return self.broker_address

    @property
    def broker_address(self) -> tuple[str, int]:
        if self.broker:
            return parse_mqtt_url(self.broker)
        return self.host, self.mqtt_port


def env_flag(name: str, default: bool = False) -> bool:
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")
