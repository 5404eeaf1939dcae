"""airrohr nodes posting to a running server through each of the three paths, with their formats unchanged:
registration, authentication, storage with the right quantities, re-sent bodies stored once, quarantine."""
import base64
import csv
import json
from pathlib import Path

import httpx
import pytest

from hostkit import ADMIN_TOKEN, admin_headers

DATA = Path("/work/shared/data")
NODE = "esp8266-13463342"


def sds_row():
    path = DATA / "sensor_community_sds011_header_and_example_rows.csv"
    if not path.exists():
        pytest.skip("reference data ../shared/data absent")
    with open(path, newline="") as f:
        return next(csv.DictReader(f, delimiter=";"))


@pytest.fixture
def server(make_service):
    return make_service(admin_token=ADMIN_TOKEN)


def register(server, node=NODE, open_push=False):
    r = httpx.post(server.http_url + "/api/v1/admin/devices", headers=admin_headers(), timeout=30, json={
        "airrohr": node, "name": "Toit Mériadeck", "lat": 44.8378, "lon": -0.5845, "airrohr_open": open_push})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"] == node and body["kit"] == "airrohr"
    return body["airrohr"]["password"]


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def values(server, node):
    rows = server.store._con.cursor().execute(
        "SELECT v.seq, v.quantity, v.value, r.transport FROM raw_values v JOIN raw_readings r USING (device, seq) "
        "WHERE v.device = ? ORDER BY v.seq, v.quantity", [node]).fetchall()
    return rows


def test_three_paths_store_the_reference_row_with_the_right_quantities(server):
    token = register(server)
    row = sds_row()  # P1 = PM10 17.63, P2 = PM2.5 11.20
    url = server.http_url
    per_sensor = {"software_version": "NRZ-2024-135", "sensordatavalues": [
        {"value_type": "P1", "value": row["P1"]}, {"value_type": "P2", "value": row["P2"]}]}
    r = httpx.post(url + "/v1/push-sensor-data/", json=per_sensor,
                   headers={"X-Sensor": NODE, "X-PIN": "1", **basic(NODE, token)})
    assert r.status_code == 201 and r.json() == {"stored": 1, "duplicates": 0}
    combined = {"esp8266id": NODE.split("-")[1], "software_version": "NRZ-2024-135", "sensordatavalues": [
        {"value_type": "SDS_P1", "value": row["P1"]}, {"value_type": "SDS_P2", "value": row["P2"]},
        {"value_type": "BME280_pressure", "value": "100101.00"}, {"value_type": "signal", "value": "-70"}]}
    r = httpx.post(url + "/api/v1/airrohr", json=combined, headers=basic(NODE, token))
    assert r.status_code == 201 and r.json()["stored"] == 1
    line = f"feinstaub,node={NODE} SDS_P1={row['P1']},SDS_P2={row['P2']} 1700000000"
    r = httpx.post(url + "/write", params={"db": "airrohr", "precision": "s"}, content=line, headers=basic(NODE, token))
    assert r.status_code == 204
    stored = values(server, NODE)
    by_seq = {}
    for seq, q, v, transport in stored:
        assert transport == "airrohr"
        by_seq.setdefault(seq, {})[q] = v
    assert sorted(by_seq.values(), key=len) == [
        {"pm10": 17.63, "pm2_5": 11.20}, {"pm10": 17.63, "pm2_5": 11.20},
        {"pm10": 17.63, "pm2_5": 11.20, "pressure": pytest.approx(1001.01)}]
    assert 1700000000 * 100 in by_seq  # the line's own timestamp
    readings = httpx.get(url + "/api/v1/readings", params={"device": NODE, "quantity": "pm10"}).json()
    assert [x["value"] for x in readings] == [17.63] * 3


def test_a_resent_push_is_stored_once_and_other_pins_are_separate_readings(server):
    token = register(server)
    body = {"software_version": "x", "sensordatavalues": [{"value_type": "P2", "value": "4.00"}]}
    headers = {"X-Sensor": NODE, "X-PIN": "1", **basic(NODE, token)}
    first = httpx.post(server.http_url + "/v1/push-sensor-data/", json=body, headers=headers).json()
    again = httpx.post(server.http_url + "/v1/push-sensor-data/", json=body, headers=headers).json()
    assert first == {"stored": 1, "duplicates": 0} and again == {"stored": 0, "duplicates": 1}
    bme = {"software_version": "x", "sensordatavalues": [{"value_type": "temperature", "value": "12.5"}]}
    r = httpx.post(server.http_url + "/v1/push-sensor-data/", json=bme, headers={**headers, "X-PIN": "11"})
    assert r.json()["stored"] == 1
    assert len({seq for seq, *_ in values(server, NODE)}) == 2


def test_unregistered_or_unauthenticated_nodes_store_nothing(server):
    token = register(server)
    body = {"software_version": "x", "sensordatavalues": [{"value_type": "P2", "value": "4.00"}]}
    url = server.http_url + "/v1/push-sensor-data/"
    r = httpx.post(url, json=body, headers={"X-Sensor": "esp8266-999", "X-PIN": "1", **basic("esp8266-999", token)})
    assert r.status_code == 403 and "devices add --airrohr esp8266-999" in r.json()["detail"]
    r = httpx.post(url, json=body, headers={"X-Sensor": NODE, "X-PIN": "1"})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    r = httpx.post(url, json=body, headers={"X-Sensor": NODE, "X-PIN": "1", **basic(NODE, "guess-9f3a")})
    assert r.status_code == 401 and "guess-9f3a" not in r.text
    r = httpx.post(server.http_url + "/write?db=x", content=f"feinstaub,node=esp8266-5 SDS_P1=1", headers=basic(NODE, token))
    assert r.status_code == 403
    assert values(server, NODE) == [] and server.store.quarantined() == []


def test_open_node_posts_on_x_sensor_alone_on_the_per_sensor_path_only(server):
    register(server, open_push=True)
    body = {"software_version": "x", "sensordatavalues": [{"value_type": "P1", "value": "8"}]}
    r = httpx.post(server.http_url + "/v1/push-sensor-data/", json=body, headers={"X-Sensor": NODE, "PIN": "1"})
    assert r.status_code == 201
    combined = {"esp8266id": NODE.split("-")[1], "sensordatavalues": [{"value_type": "SDS_P1", "value": "8"}]}
    assert httpx.post(server.http_url + "/api/v1/airrohr", json=combined).status_code == 401


@pytest.mark.parametrize("path,headers,body,fragment", [
    ("/v1/push-sensor-data/", {"X-PIN": "1"}, b'{"sensordatavalues": [{"value_type": "P1", "value": "x"}]}', "not a number"),
    ("/v1/push-sensor-data/", {"X-PIN": "1"}, b"[1, 2]", "JSON must be an object"),
    ("/api/v1/airrohr", {}, b'{"sensordatavalues": [{"value_type": "SDS_P1", "value": "1e999"}]}', "non-finite"),
    ("/write?db=a", {}, b"feinstaub,node=" + NODE.encode() + b" SDS_P1=1 notatime", "not an integer"),
])
def test_bad_bodies_from_a_known_node_get_400_and_go_to_quarantine(server, path, headers, body, fragment):
    token = register(server)
    r = httpx.post(server.http_url + path, content=body,
                   headers={"X-Sensor": NODE, "Content-Type": "application/json", **headers, **basic(NODE, token)})
    assert r.status_code == 400 and fragment in r.json()["detail"]
    (entry,) = server.store.quarantined()
    assert entry["source"] == "airrohr" and entry["payload"] == body and fragment in entry["reason"]


def test_malformed_requests_get_clear_4xx(server):
    url = server.http_url
    assert httpx.post(url + "/v1/push-sensor-data/", content=b"", headers={"X-Sensor": NODE, "X-PIN": "1"}).status_code == 400
    assert httpx.post(url + "/v1/push-sensor-data/", json={"a": 1}, headers={"X-Sensor": "node-1", "X-PIN": "1"}).status_code == 400
    assert httpx.post(url + "/v1/push-sensor-data/", json={"a": 1}, headers={"X-Sensor": NODE, "X-PIN": "4"}).status_code == 400
    assert httpx.post(url + "/v1/push-sensor-data/", content=b"x" * 20000, headers={"X-Sensor": NODE, "X-PIN": "1"}).status_code == 413
    assert httpx.post(url + "/write", content=b"a b=1").status_code == 422  # no db
    assert httpx.post(url + "/write?db=a", content=b"a b=1", headers={"Authorization": "Bearer x"}).status_code == 401
