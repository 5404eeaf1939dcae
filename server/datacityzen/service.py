"""The running server: embedded broker (or an external one), store, MQTT ingest and HTTP, wired together."""
from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from pathlib import Path

import uvicorn

from .alerts import AlertJob
from .api.app import create_app
from .broker import EmbeddedBroker
from .broker_config import INTERNAL_SECRET_FILE, internal_password
from .broker_plugins import INTERNAL_USER, BrokerPolicy
from .store.registry import Registry
from .ingest.embedded import DurableIngest
from .ingest.mqtt_consumer import MqttIngest
from .ingest.pipeline import Ingestor
from .settings import Settings, env
from .store.calibrated import RefreshThread
from .store.duckdb_store import DuckDBStore
from .subscriptions import EcosystemJobs

log = logging.getLogger(__name__)


class PortInUse(RuntimeError):
    pass


def check_port_free(host: str, port: int, what: str) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            raise PortInUse(
                f"{what} port {port} on {host} is already in use: stop the other program or choose "
                f"another port (--{'http' if what == 'HTTP' else 'mqtt'}-port)"
            ) from None


class Service:
    def __init__(self, settings: Settings, app_state: dict | None = None):
        self.settings = settings
        self.app_state = app_state or {}  # extra app.state entries, e.g. the exhibition's settings
        self.app = None
        self.store = None
        self.broker: EmbeddedBroker | None = None
        self.ingest: MqttIngest | None = None
        self._http: uvicorn.Server | None = None
        self._http_thread: threading.Thread | None = None
        self.mirror = None  # InfluxMirror when --influx-url is given
        self.archiver = None  # DailyArchiver (yesterday into DATA_DIR/archive, once a day)
        self.alerts: AlertJob | None = None
        self.calibration_refresh: RefreshThread | None = None
        self.ecosystem_jobs: EcosystemJobs | None = None

    @property
    def http_url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.http_port}"

    def start(self) -> None:
        s = self.settings
        check_port_free(s.host, s.http_port, "HTTP")
        if not s.broker:
            check_port_free(s.host, s.mqtt_port, "MQTT")
        self.store = DuckDBStore(s.data_dir)
        if s.influx_url:
            from .store.influx_writer import InfluxMirror

            self.mirror = InfluxMirror(self.store, s.influx_url, s.influx_token, s.influx_org, s.influx_bucket,
                                       max_backoff_s=float(env("INFLUX_MAX_BACKOFF_S", 60)),
                                       max_pending=int(env("INFLUX_MAX_PENDING", 5_000_000)))
            self.mirror.start()
        if s.daily_archive:
            from .archive import DailyArchiver

            self.archiver = DailyArchiver(self.store, Path(s.data_dir) / "archive")
            self.archiver.start()
        # Window quality flags (stuck, spike, silence, drift) over recent data, every few minutes.
        self.calibration_refresh = RefreshThread(self.store, float(env("CALIBRATION_REFRESH_S", 300)))
        self.calibration_refresh.start()
        # Forwarding to Sensor.Community/openSenseMap and alert subscriptions (issue 10).
        self.ecosystem_jobs = EcosystemJobs(self.store, float(env("ECOSYSTEM_INTERVAL_S", 30)))
        self.ecosystem_jobs.start()
        if not s.broker:
            # The embedded broker stores each uplink before acknowledging it (ingest/embedded.py):
            # no reading is lost if this process dies between the device's PUBACK and the commit.
            self.ingest = DurableIngest(Ingestor(self.store))
            self.ingest.start()
            # Devices log in with their registered credentials (broker_plugins.py); the server's own
            # clients (downlinks, tests' observers) with a password made for this run.
            policy = BrokerPolicy(check_device=Registry.of(self.store).check_mqtt,
                                  internal_password=secrets.token_urlsafe(24),
                                  allow_anonymous=s.allow_anonymous, ingest=self.ingest)
            self.broker = EmbeddedBroker(s.host, s.mqtt_port, policy=policy)
            self.broker.start()
        else:
            host, port = s.broker_address
            username, password = s.broker_username, s.broker_password
            if username is None and (Path(s.data_dir) / INTERNAL_SECRET_FILE).exists():
                username, password = INTERNAL_USER, internal_password(s.data_dir)
            self.ingest = MqttIngest(Ingestor(self.store), host, port, username=username, password=password)
            self.ingest.start()
        self.app = app = create_app(self.store, s)
        for name, value in self.app_state.items():
            setattr(app.state, name, value)
        self.registry = app.state.registry
        app.state.mirror = self.mirror  # its counters in /api/v1/health
        self.alerts = AlertJob(self.store, self.registry, s)
        self.alerts.start()
        config = uvicorn.Config(
            app, host=s.host, port=s.http_port, log_level="warning", lifespan="off"
        )
        self._http = uvicorn.Server(config)
        self._http_thread = threading.Thread(target=self._http.run, name="http", daemon=True)
        self._http_thread.start()
        deadline = time.monotonic() + 15
        while not self._http.started:
            if time.monotonic() > deadline or not self._http_thread.is_alive():
                raise RuntimeError(f"HTTP server did not start on {self.http_url}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.app is not None:
            self.app.state.live.close()  # ends the open live streams, which uvicorn would wait for
        if self._http is not None:
            self._http.should_exit = True
            self._http_thread.join(timeout=10)
        if self.alerts is not None:
            self.alerts.stop()
        # The embedded broker first: it stops taking messages that the ingest could no longer store.
        if self.broker is not None:
            self.broker.stop()
        if self.ingest is not None:
            self.ingest.stop()
        if self.archiver is not None:
            self.archiver.stop()
        if self.mirror is not None:
            self.mirror.stop()
        if self.calibration_refresh is not None:
            self.calibration_refresh.stop()
        if self.ecosystem_jobs is not None:
            self.ecosystem_jobs.stop()
        if self.store is not None:
            self.store.close()
