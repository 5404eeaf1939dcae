"""One settings object, from command-line flags with `DCZ_`-prefixed environment variables as defaults."""
from __future__ import annotations

import os
from dataclasses import dataclass
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


@dataclass(repr=False)
class Settings:
    data_dir: Path
    host: str = "127.0.0.1"
    http_port: int = 8080
    mqtt_port: int = 1883
    broker: str | None = None  # external broker URL; None = run the embedded one
    # Time-series mirror (InfluxDB-v2-compatible line protocol); None = no mirror.
    influx_url: str | None = None
    influx_token: str | None = None
    influx_org: str = "datacityzen"
    influx_bucket: str = "datacityzen"
    daily_archive: bool = True  # archive yesterday into data_dir/archive once a day

    @property
    def broker_address(self) -> tuple[str, int]:
        if self.broker:
            return parse_mqtt_url(self.broker)
        return self.host, self.mqtt_port

    def __repr__(self) -> str:  # never print the token
        fields = {k: ("***" if k == "influx_token" and v else v) for k, v in vars(self).items()}
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in fields.items()) + ")"
