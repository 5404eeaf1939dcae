"""LoRaWAN network servers posting to a running server: The Things Stack v3 webhooks and ChirpStack v4's
HTTP integration, the shared secret, device mapping, idempotence, radio metadata, quarantine, and
generated bodies that never get a 500."""
import base64
import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostkit import ADMIN_TOKEN, admin_headers
from test_lorawan_v1 import FW  # the firmware's encoder, loaded under CPython

SECRET = "ttn-webhook-secret-for-tests"
DEVICE = "lw-outdoor-01"
DEV_EUI = "2CF7F12032308463"
T0 = int((datetime.now(timezone.utc) - timedelta(hours=1)).timestamp())
VALS = {"pm2_5": 12.3, "pm10": 19.8, "temperature": 11.5, "humidity": 81.4, "pressure": 1016.3}


def payload(first_seq=10, n=3):
    rs = [{"seq": first_seq + i, "time": T0 + 145 * i, "values": dict(VALS, pm2_5=12.3 + i)} for i in range(n)]
    mv, k = FW.Encoder(1).encode(rs)
    assert k == n
    return bytes(mv)


def ttn_body(data: bytes, device=DEVICE, f_port=1, **extra):
    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    up = {"f_port": f_port, "f_cnt": 42, "frm_payload": base64.b64encode(data).decode(),
          "rx_metadata": [{"gateway_ids": {"gateway_id": "gw-quai-1", "eui": "B827EBFFFE000001"}, "time": now,
                           "rssi": -112, "channel_rssi": -112, "snr": -6.25},
                          {"gateway_ids": {"gateway_id": "gw-bastide"}, "rssi": -97, "snr": 4.5}],
          "settings": {"data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 9, "coding_rate": "4/5"}},
                       "frequency": "868300000"},
          "received_at": now, "consumed_airtime": "0.205824s"}
    up.update(extra)
    return {"end_device_ids": {"device_id": device, "application_ids": {"application_id": "dcz-bordeaux"},
                               "dev_eui": DEV_EUI, "dev_addr": "260B5A7C"},
            "correlation_ids": ["as:up:01H"], "received_at": now, "uplink_message": up}


def chirpstack_body(data: bytes, device=DEVICE):
    return {"deduplicationId": "3ac7e3c4-4401-4b8d-9386-a5c902f9202d",
            "time": datetime.now(timezone.utc).isoformat(),
            "deviceInfo": {"tenantId": "t", "tenantName": "ChirpStack", "applicationId": "a",
                           "applicationName": "dcz", "deviceProfileName": "LoRa-E5", "deviceName": device,
                           "devEui": DEV_EUI.lower(), "tags": {}},
            "devAddr": "260b5a7c", "adr": True, "dr": 5, "fCnt": 7, "fPort": 1, "confirmed": True,
            "data": base64.b64encode(data).decode(),
            "rxInfo": [{"gatewayId": "0016c001ff10a235", "uplinkId": 4217, "rssi": -57, "snr": 10.5,
                        "channel": 1, "crcStatus": "CRC_OK"}],
            "txInfo": {"frequency": 868100000,
                       "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": 7, "codeRate": "CR_4_5"}}}}


@pytest.fixture
def server(make_service):
    s = make_service(admin_token=ADMIN_TOKEN, ttn_secret=SECRET)
    r = httpx.post(s.http_url + "/api/v1/admin/devices", headers=admin_headers(), timeout=30, json={
        "kit": "air-outdoor-v1", "name": "Balcon LoRa", "lat": 44.8378, "lon": -0.5845, "id": DEVICE})
    assert r.status_code == 201, r.text
    return s


AUTH = {"Authorization": f"Bearer {SECRET}"}


def stored(server, device=DEVICE):
    return server.store._con.cursor().execute(
        "SELECT seq, transport, radio FROM raw_readings WHERE device = ? ORDER BY seq", [device]).fetchall()


def test_ttn_route_refuses_without_a_configured_secret(make_service):
    s = make_service()
    r = httpx.post(s.http_url + "/api/v1/ingest/ttn", json=ttn_body(payload()), headers=AUTH)
    assert r.status_code == 403 and "--ttn-secret" in r.json()["detail"]
    r = httpx.post(s.http_url + "/api/v1/ingest/chirpstack?event=up", json=chirpstack_body(payload()), headers=AUTH)
    assert r.status_code == 403


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {SECRET}"},
                                     {"Authorization": f"Bearer {SECRET}x"}, {"X-Downlink-Apikey": SECRET}])
def test_ttn_route_wants_the_secret(server, headers):
    r = httpx.post(server.http_url + "/api/v1/ingest/ttn", json=ttn_body(payload()), headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert stored(server) == [] and server.store.quarantined() == []  # nothing kept from strangers


def test_ttn_uplink_stored_once_with_its_values_and_radio(server):
    url = server.http_url + "/api/v1/ingest/ttn"
    r = httpx.post(url, json=ttn_body(payload()), headers=AUTH)
    assert r.status_code == 200 and r.json() == {"stored": 3, "duplicates": 0}
    r = httpx.post(url, json=ttn_body(payload()), headers=AUTH)  # the network server retries the webhook
    assert r.json() == {"stored": 0, "duplicates": 3}
    rows = stored(server)
    assert [(seq, tr) for seq, tr, _ in rows] == [(10, "lorawan"), (11, "lorawan"), (12, "lorawan")]
    radio = json.loads(rows[0][2])
    assert radio == {"network": "ttn", "dev_eui": DEV_EUI, "application": "dcz-bordeaux", "f_cnt": 42, "sf": 9,
                     "bandwidth": 125000, "frequency": 868300000, "gateways": 2, "airtime_s": 0.205824,
                     "gateway": "gw-bastide", "rssi": -97, "snr": 4.5}  # the best of the two gateways
    values = server.store._con.cursor().execute(
        "SELECT seq, quantity, value, time FROM raw_values WHERE device = ? ORDER BY seq, quantity", [DEVICE]).fetchall()
    assert len(values) == 15
    got = {(s, q): v for s, q, v, _ in values}
    assert got[(11, "pm2_5")] == 13.3 and got[(12, "pressure")] == 1016.3 and got[(10, "temperature")] == 11.5
    assert values[0][3].replace(tzinfo=timezone.utc).timestamp() == T0
    # the same readings through ChirpStack (a second network): already there
    r = httpx.post(server.http_url + "/api/v1/ingest/chirpstack?event=up", json=chirpstack_body(payload()), headers=AUTH)
    assert r.json() == {"stored": 0, "duplicates": 3}


def test_chirpstack_up_event_stored_with_its_radio(server):
    url = server.http_url + "/api/v1/ingest/chirpstack"
    r = httpx.post(url + "?event=up", json=chirpstack_body(payload(first_seq=500, n=2)), headers=AUTH)
    assert r.status_code == 200 and r.json() == {"stored": 2, "duplicates": 0}
    radio = json.loads(stored(server)[0][2])
    assert radio == {"network": "chirpstack", "dev_eui": DEV_EUI, "application": "dcz", "f_cnt": 7, "sf": 7,
                     "bandwidth": 125000, "frequency": 868100000, "gateways": 1, "gateway": "0016c001ff10a235",
                     "rssi": -57, "snr": 10.5}
    for event in ("join", "status", "ack", "txack", "log"):
        r = httpx.post(url + f"?event={event}", json={"deviceInfo": {"deviceName": DEVICE}}, headers=AUTH)
        assert r.status_code == 200 and r.json()["ignored"] == f"event {event}"
    r = httpx.post(url, json=chirpstack_body(payload()), headers=AUTH)
    assert r.status_code == 422  # ChirpStack always says which event


def test_unknown_device_and_bad_payloads_are_quarantined_with_a_reason(server):
    url = server.http_url + "/api/v1/ingest/ttn"
    r = httpx.post(url, json=ttn_body(payload(), device="not-registered"), headers=AUTH)
    assert r.status_code == 403
    r = httpx.post(url, json=ttn_body(b"\xf0\x00\x00\x01" + bytes(12)), headers=AUTH)
    assert r.status_code == 400 and "layout 15 unknown" in r.json()["detail"]
    r = httpx.post(url, json=ttn_body(payload(), f_port=9), headers=AUTH)
    assert r.status_code == 400 and "fPort 9" in r.json()["detail"]
    r = httpx.post(url, content=b"{not json", headers=AUTH)
    assert r.status_code == 400
    r = httpx.post(url, json={"end_device_ids": {"device_id": DEVICE}, "join_accept": {}}, headers=AUTH)
    assert r.status_code == 400 and "uplink_message" in r.json()["detail"]
    r = httpx.post(url, json=ttn_body(payload(), device="Bad Id!"), headers=AUTH)
    assert r.status_code == 400 and "device_id" in r.json()["detail"]
    reasons = [q["reason"] for q in server.store.quarantined()]
    assert len(reasons) == 6
    assert any("not registered" in x for x in reasons) and any("layout 15" in x for x in reasons)
    assert any("fPort 9" in x for x in reasons) and any("not valid UTF-8 JSON" in x for x in reasons)
    # a frame without application payload (MAC commands only) is fine and stores nothing
    body = ttn_body(b"")
    del body["uplink_message"]["frm_payload"], body["uplink_message"]["f_port"]
    r = httpx.post(url, json=body, headers=AUTH)
    assert r.status_code == 200 and r.json()["ignored"] == "no application payload"
    assert stored(server) == []


def test_oversized_body_is_refused(server):
    r = httpx.post(server.http_url + "/api/v1/ingest/ttn", headers=AUTH,
                   json=ttn_body(payload(), padding="x" * 70000))
    assert r.status_code == 413


# -- generated bodies: never a 500 ---------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12)


@st.composite
def ttn_like(draw):
    body = ttn_body(draw(st.binary(max_size=60)) if draw(st.booleans()) else payload())
    # replace some fields at any depth of the known shape with arbitrary JSON
    for path in draw(st.lists(st.sampled_from([
            ("end_device_ids",), ("end_device_ids", "device_id"), ("uplink_message",),
            ("uplink_message", "f_port"), ("uplink_message", "frm_payload"), ("uplink_message", "rx_metadata"),
            ("uplink_message", "settings"), ("uplink_message", "received_at"), ("received_at",),
            ("uplink_message", "f_cnt"), ("uplink_message", "consumed_airtime")]), max_size=4)):
        node = body
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node[path[-1]] = draw(json_values)
    return body


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from datacityzen.api.app import create_app
    from datacityzen.settings import Settings
    from datacityzen.store.duckdb_store import DuckDBStore
    from datacityzen.store.registry import Registry

    store = DuckDBStore(tmp_path_factory.mktemp("lorawan-fuzz"))
    Registry.of(store).register("air-outdoor-v1", "fuzz", 44.84, -0.58, device_id=DEVICE)
    app = create_app(store, Settings(data_dir=store.path.parent, ttn_secret=SECRET))
    from datacityzen.api import limits

    app.state.limits = limits.Limits(address_rate=1e6, address_burst=10**6, device_rate=1e6, device_burst=10**6)
    with TestClient(app) as c:
        yield c
    store.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ttn_like())
def test_generated_ttn_bodies_never_get_a_500(client, body):
    r = client.post("/api/v1/ingest/ttn", json=body, headers=AUTH)
    assert r.status_code in (200, 400, 403, 413), (r.status_code, r.text)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(json_values)
def test_arbitrary_json_to_chirpstack_never_gets_a_500(client, body):
    r = client.post("/api/v1/ingest/chirpstack?event=up", json=body, headers=AUTH)
    assert r.status_code in (200, 400, 403), (r.status_code, r.text)
