"""Admin API of a running server (real HTTP, real broker): registration, host links, auth."""
import time

import httpx
import pytest

from hostkit import ADMIN_TOKEN, admin_headers, publish_history, register, token_of


@pytest.fixture
def admin_service(make_service):
    return make_service(admin_token=ADMIN_TOKEN)


def test_registration_returns_config_credentials_and_host_link(admin_service):
    out = register(admin_service, email="hote@example.org")
    device = out["id"]
    assert out["mqtt"] == {"host": "127.0.0.1", "port": admin_service.settings.mqtt_port, "username": device,
                           "password": out["mqtt"]["password"], "topic": f"dcz/v1/{device}/up"}
    assert out["config"]["device_id"] == device and out["config"]["kit_id"] == "air-outdoor-v1"
    assert out["config"]["mqtt"]["password"] == out["mqtt"]["password"]
    assert set(out["config"]["wifi"]) == {"ssid", "password"}
    assert out["host_url"].startswith(admin_service.http_url + "/host/")
    assert len(token_of(out["host_url"])) >= 43
    registry = admin_service.registry
    assert registry.check_mqtt(device, out["mqtt"]["password"])
    assert registry.check_http_token(device, out["http"]["token"])
    assert registry.device_for_host_token(token_of(out["host_url"])) == device
    # the exact location is nowhere in the answer
    assert "44.8412" not in str(out) and "-0.5797" not in str(out)


def test_registered_devices_list_has_no_secret_nor_exact_location(admin_service):
    out = register(admin_service)
    r = httpx.get(admin_service.http_url + "/api/v1/admin/devices", headers=admin_headers())
    assert r.status_code == 200
    (d,) = r.json()
    assert d["id"] == out["id"] and d["host_link_active"] and not d["paused"]
    text = r.text
    for secret in (out["mqtt"]["password"], out["http"]["token"], token_of(out["host_url"]), "44.8412"):
        assert secret not in text


@pytest.mark.parametrize("headers,status", [
    ({}, 401), ({"Authorization": "Basic abc"}, 401), ({"Authorization": "Bearer wrong"}, 403),
    ({"Authorization": f"Bearer {ADMIN_TOKEN}x"}, 403),
])
def test_admin_routes_need_the_admin_token(admin_service, headers, status):
    url = admin_service.http_url + "/api/v1/admin/devices"
    r = httpx.post(url, json={"kit": "air-outdoor-v1", "name": "x", "lat": 1, "lon": 1}, headers=headers)
    assert r.status_code == status
    assert httpx.get(url, headers=headers).status_code == status
    assert ADMIN_TOKEN not in r.text
    assert admin_service.registry.devices() == []


def test_admin_api_is_disabled_without_a_configured_token(service):
    r = httpx.get(service.http_url + "/api/v1/admin/devices", headers=admin_headers())
    assert r.status_code == 403 and "DCZ_ADMIN_TOKEN" in r.json()["detail"]


@pytest.mark.parametrize("body,status", [
    ({"kit": "air-outdoor-v1", "name": "x", "lat": 91, "lon": 0}, 422),
    ({"kit": "air-outdoor-v1", "name": "x", "lat": "north", "lon": 0}, 422),
    ({"kit": "Air!", "name": "x", "lat": 44, "lon": 0}, 400),
    ({"kit": "air-outdoor-v1", "name": "x", "lat": 44, "lon": 0, "precision_m": 20}, 400),
    ({"kit": "air-outdoor-v1", "name": "x", "lat": 44, "lon": 0, "email": "nobody"}, 400),
])
def test_bad_registrations_get_a_clear_4xx(admin_service, body, status):
    r = httpx.post(admin_service.http_url + "/api/v1/admin/devices", json=body, headers=admin_headers())
    assert r.status_code == status
    assert admin_service.registry.devices() == []


def test_same_id_twice_is_a_conflict(admin_service):
    register(admin_service, id="dcz-balcon-1")
    r = httpx.post(admin_service.http_url + "/api/v1/admin/devices", headers=admin_headers(),
                   json={"kit": "air-outdoor-v1", "name": "x", "lat": 44, "lon": 0, "id": "dcz-balcon-1"})
    assert r.status_code == 409


def test_rotated_and_revoked_host_links_get_a_404_without_device_information(admin_service):
    out = register(admin_service, name="Balcon Secret")
    old = out["host_url"]
    assert httpx.get(old).status_code == 200
    r = httpx.post(f"{admin_service.http_url}/api/v1/admin/devices/{out['id']}/host-link", headers=admin_headers())
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    new = r.json()["host_url"]
    assert new != old and httpx.get(new).status_code == 200
    gone = httpx.get(old)
    assert gone.status_code == 404
    for leak in (out["id"], "Balcon Secret", "air-outdoor"):
        assert leak not in gone.text
    r = httpx.delete(f"{admin_service.http_url}/api/v1/admin/devices/{out['id']}/host-link", headers=admin_headers())
    assert r.json() == {"id": out["id"], "revoked": 1}
    assert httpx.get(new).status_code == 404
    unknown = httpx.get(admin_service.http_url + "/host/" + "A" * 43)
    assert unknown.status_code == 404 and unknown.text.count("<section>") == 1
    assert httpx.get(admin_service.http_url + "/host/x/sw.js").status_code == 404


def test_host_link_of_an_unknown_device_is_404(admin_service):
    r = httpx.post(f"{admin_service.http_url}/api/v1/admin/devices/dcz-nope/host-link", headers=admin_headers())
    assert r.status_code == 404


def test_readings_download_is_counted_and_paused_readings_stay_private(admin_service):
    out = register(admin_service)
    device = out["id"]
    now = time.time()
    publish_history(admin_service, device, now - 3 * 3600, now - 2 * 3600, interval_s=600)  # 6 readings
    registry = admin_service.registry
    from datetime import datetime, timezone

    registry.set_paused(device, True, now=datetime.fromtimestamp(now - 3600, timezone.utc))
    publish_history(admin_service, device, now - 1800, now, interval_s=600, first_seq=100)  # while paused
    url = admin_service.http_url + "/api/v1/readings"
    rows = httpx.get(url, params={"device": device, "quantity": "temperature"}).json()
    assert [r["seq"] for r in rows] == list(range(6))
    assert admin_service.store._con.cursor().execute(
        "SELECT count(*) FROM raw_readings WHERE device = ?", [device]).fetchone()[0] == 9  # stored all the same
    devices = {d["id"]: d for d in httpx.get(admin_service.http_url + "/api/v1/devices").json()}
    assert devices[device]["latest"] == {}  # the latest values fall in the pause
    from datacityzen.store.usage import downloads

    assert downloads(admin_service.store, device) == {"readings": 1}
