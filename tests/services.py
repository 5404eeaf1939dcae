"""A real running DataCityZen server (embedded broker or an external one) for tests."""
import pytest

from brokers import free_port


@pytest.fixture
def make_service(tmp_path):
    """Factory: start a Service on free loopback ports; stopped at the end of the test."""
    from datacityzen.service import Service
    from datacityzen.settings import Settings

    started = []

    def make(broker_url=None, data_dir=None, **extra):
        """`extra`: more Settings fields (admin_token, smtp_host, webhook_allow_private, ...)."""
        settings = Settings(
            data_dir=data_dir or tmp_path / f"data{len(started)}",
            http_port=free_port(),
            mqtt_port=free_port(),
            broker=broker_url,
            **extra,
        )
        service = Service(settings)
        service.start()
        started.append(service)
        return service

    yield make
    for service in reversed(started):
        service.stop()


@pytest.fixture
def service(make_service):
    """A server with its embedded amqtt broker."""
    return make_service()
