"""`datacityzen devices` as a person runs it: a separate process, on a data directory or a server."""
import json
import os
import subprocess
import sys

import httpx
import pytest

from hostkit import ADMIN_TOKEN, token_of

SERVER = os.path.join(os.path.dirname(__file__), "..", "..", "server")


def cli(*args, env=None):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DCZ_")}
    environment["PYTHONPATH"] = os.path.abspath(SERVER)
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "datacityzen.cli", "devices", *args], capture_output=True,
                          text=True, timeout=120, env=environment)


ADD = ["add", "--kit", "air-outdoor-v1", "--name", "Balcon test", "--lat", "44.8412", "--lon", "-0.5797",
       "--altitude", "20", "--json"]


def test_add_list_and_host_link_on_a_data_directory(tmp_path):
    data = str(tmp_path / "data")
    r = cli(*ADD, "--data", data, "--public-url", "https://air.example.org", "--mqtt", "mqtt://broker.example.org:8883")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["host_url"].startswith("https://air.example.org/host/")
    assert out["config"]["mqtt"] == {"host": "broker.example.org", "port": 8883, "username": out["id"],
                                     "password": out["mqtt"]["password"]}
    assert out["mqtt"]["topic"] == f"dcz/v1/{out['id']}/up" and out["http"]["token"]
    listed = json.loads(cli("list", "--data", data, "--json").stdout)
    assert [d["id"] for d in listed] == [out["id"]] and out["mqtt"]["password"] not in str(listed)
    rotated = cli("host-link", out["id"], "--rotate", "--data", data, "--json")
    new = json.loads(rotated.stdout)["host_url"]
    assert token_of(new) != token_of(out["host_url"])
    revoked = cli("host-link", out["id"], "--revoke", "--data", data)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    from datacityzen.store.registry import open_local

    store, registry = open_local(data)
    try:
        assert registry.device_for_host_token(token_of(new)) is None
        assert registry.check_mqtt(out["id"], out["mqtt"]["password"])
    finally:
        store.close()


def test_bad_input_gets_a_clear_error_and_registers_nothing(tmp_path):
    data = str(tmp_path / "data")
    r = cli("add", "--kit", "air-outdoor-v1", "--name", "x", "--lat", "44", "--lon", "-0.5", "--precision", "10",
            "--data", data)
    assert r.returncode == 2 and "precision" in r.stderr and "Traceback" not in r.stderr
    assert json.loads(cli("list", "--data", data, "--json").stdout) == []
    r = cli("host-link", "dcz-nope", "--rotate", "--data", data)
    assert r.returncode == 2 and "no registered device" in r.stderr


def test_data_directory_held_by_a_running_server_is_refused_clearly(make_service):
    service = make_service(admin_token=ADMIN_TOKEN)
    r = cli(*ADD, "--data", str(service.settings.data_dir))
    assert r.returncode == 2
    assert "in use by a running server" in r.stderr and "--server" in r.stderr


def test_add_through_a_running_server_with_the_admin_token(make_service):
    service = make_service(admin_token=ADMIN_TOKEN)
    r = cli(*ADD, "--server", service.http_url, env={"DCZ_ADMIN_TOKEN": ADMIN_TOKEN})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert service.registry.check_mqtt(out["id"], out["mqtt"]["password"])
    assert httpx.get(out["host_url"]).status_code == 200
    r = cli("host-link", out["id"], "--revoke", "--server", service.http_url, "--json",
            env={"DCZ_ADMIN_TOKEN": ADMIN_TOKEN})
    assert json.loads(r.stdout)["revoked"] == 1 and httpx.get(out["host_url"]).status_code == 404


@pytest.mark.parametrize("token,message", [(None, "DCZ_ADMIN_TOKEN"), ("wrong", "403")])
def test_server_mode_without_the_right_token(make_service, token, message):
    service = make_service(admin_token=ADMIN_TOKEN)
    r = cli(*ADD, "--server", service.http_url, env={"DCZ_ADMIN_TOKEN": token} if token else None)
    assert r.returncode == 2 and message in r.stderr
    assert ADMIN_TOKEN not in r.stderr + r.stdout
    assert service.registry.devices() == []
