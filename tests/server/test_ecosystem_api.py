"""Atlas, quantity request board, reuse keys and licence, widgets and alert subscriptions, through a real
running server (HTTP client, DuckDB file, registered devices publishing over MQTT)."""
import hashlib
import hmac
import json
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from datacityzen.commands import atlas as atlas_cmd
from datacityzen.requests_board import Board
from datacityzen.subscriptions import SubscriptionJob
from hostkit import ADMIN_TOKEN, admin_headers, publish_history, register

# Two squares near Bordeaux: an "urban" one around the device and a "rural" one without any.
URBAN = {"type": "Polygon", "coordinates": [[[-0.62, 44.82], [-0.54, 44.82], [-0.54, 44.87], [-0.62, 44.87], [-0.62, 44.82]]]}
RURAL = {"type": "Polygon", "coordinates": [[[-0.30, 44.60], [-0.10, 44.60], [-0.10, 44.75], [-0.30, 44.75], [-0.30, 44.60]]]}
PLACES = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [-0.5792, 44.8378]},
     "properties": {"id": "fablab-cohabit", "kind": "fablab", "name": "Fablab Cohabit", "workshops": True,
                    "url": "https://example.org/cohabit", "description": {"fr": "Ateliers kits", "en": "Kit workshops"}}},
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [-0.2, 44.7]},
     "properties": {"id": "epn-creon", "kind": "public_digital_space", "name": "EPN de Créon", "workshops": True}}]}


@pytest.fixture
def server(make_service):
    return make_service(admin_token=ADMIN_TOKEN, webhook_allow_private=True)


@pytest.fixture
def live(server):
    """A registered kit in the urban square with its last two hours published."""
    reg = register(server, name="Balcon Chartrons", lat=44.8412, lon=-0.5797)
    now = int(time.time())
    publish_history(server, reg["id"], now - 7200, now - 60, interval_s=600)
    from datacityzen.consolidation.geometry import Area, polygons_of
    from datacityzen.store.consolidated import for_store
    for_store(server.store).import_areas([
        Area("bdx-centre", "Bordeaux centre", "urban", polygons_of(URBAN, "u"), URBAN),
        Area("creon", "Créon", "rural", polygons_of(RURAL, "r"), RURAL)])
    return reg


def _import_places(server, tmp_path):
    from datacityzen.atlas import parse_places
    from datacityzen.store.atlas_places import AtlasPlaces
    AtlasPlaces.of(server.store).replace_all(parse_places(json.dumps(PLACES), "places.geojson"))


# -- atlas -----------------------------------------------------------------------------------------
def test_atlas_geojson_has_snapped_devices_places_and_coverage(server, live, tmp_path):
    _import_places(server, tmp_path)
    r = httpx.get(server.http_url + "/api/v1/atlas.geojson")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    assert r.headers["x-license"] == "ODbL-1.0" and "DataCityZen contributors" in r.headers["x-citation"]
    fc = r.json()
    layers = {}
    for f in fc["features"]:
        layers.setdefault(f["properties"]["layer"], []).append(f)
    (device,) = layers["device"]
    site = server.store._con.cursor().execute("SELECT lat, lon, public_lat, public_lon FROM device_sites WHERE device = ?",
                                              [live["id"]]).fetchone()
    assert device["geometry"]["coordinates"] == [site[3], site[2]]  # the snapped location
    assert str(site[0]) not in r.text and str(site[1]) not in r.text  # never the exact one
    assert {p["properties"]["id"] for p in layers["place"]} == {"fablab-cohabit", "epn-creon"}
    cov = {f["properties"]["id"]: f["properties"] for f in layers["coverage"]}
    assert cov["bdx-centre"]["active_devices"] == 1 and cov["bdx-centre"]["level"] == "covered"
    assert cov["creon"]["active_devices"] == 0 and cov["creon"]["level"] == "none"
    # 0.2° of longitude x cos(44.675°) x 111.195 km = 15.81 km by 0.15° x 111.195 km = 16.68 km: 263.8 km²
    assert cov["creon"]["km2"] == pytest.approx(263.8, abs=0.3)
    assert fc["coverage"]["by_kind"]["rural"]["without_data"] == 1


def test_atlas_import_refuses_a_bad_file_and_keeps_the_previous_places(tmp_path, capsys):
    from datacityzen.cli import main
    data = tmp_path / "data"
    good = tmp_path / "places.geojson"
    good.write_text(json.dumps(PLACES))
    assert main(["atlas", "import", str(good), "--data", str(data)]) == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("id,kind,name,lat,lon\nx1,fablab,Lab,44.8,-0.5\nx1,bakery,,95,-0.5\n")
    assert main(["atlas", "import", str(bad), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert "line 3.kind" in err and "'bakery'" in err and "line 3.lat/lon" in err and "déjà utilisé" in err
    assert main(["atlas", "list", "--data", str(data)]) == 0
    assert "fablab-cohabit" in capsys.readouterr().out
    assert atlas_cmd  # the command module is the CLI's


# -- request board ---------------------------------------------------------------------------------
class Clock:
    def __init__(self):
        self.t = time.time()

    def __call__(self):
        return self.t


@pytest.fixture
def board_clock(server):
    clock = Clock()
    server._http.config.app.state.board = Board(server.store, clock=clock)
    return clock


def _token(server, clock):
    token = httpx.get(server.http_url + "/api/v1/requests/form-token").json()["form_token"]
    clock.t += 5
    return token


def test_propose_vote_comment_and_mediate(server, board_clock):
    url = server.http_url + "/api/v1/requests"
    r = httpx.post(url, json={"title": "Radon", "description": "Granite cellars in the Médoc?",
                              "form_token": _token(server, board_clock)})
    assert r.status_code == 201 and r.json()["status"] == "proposed"
    rid = r.json()["id"]
    assert httpx.post(f"{url}/{rid}/votes").status_code == 201
    again = httpx.post(f"{url}/{rid}/votes")
    assert again.status_code == 409 and again.json()["votes"] == 1
    c = httpx.post(f"{url}/{rid}/comments", json={"text": "Yes, near Saint-Émilion too", "form_token": _token(server, board_clock)})
    assert c.status_code == 201
    assert httpx.patch(f"{url}/{rid}", json={"status": "prototyping"}).status_code == 401
    m = httpx.patch(f"{url}/{rid}", json={"status": "prototyping", "note": "kit RD200 en test"}, headers=admin_headers())
    assert m.status_code == 200 and m.json()["status_label"]["fr"] == "kit en prototype"
    assert httpx.patch(f"{url}/{rid}", json={"status": "maybe"}, headers=admin_headers()).status_code == 400
    cid = c.json()["id"]
    httpx.patch(f"{url}/{rid}/comments/{cid}", json={"hidden": True}, headers=admin_headers())
    detail = httpx.get(f"{url}/{rid}").json()
    assert detail["votes"] == 1 and detail["comments"] == [] and detail["mediator_note"] == "kit RD200 en test"
    httpx.patch(f"{url}/{rid}", json={"hidden": True}, headers=admin_headers())
    assert httpx.get(f"{url}/{rid}").status_code == 404 and httpx.get(url).json()["requests"] == []


def test_anti_spam_rules(server, board_clock):
    url = server.http_url + "/api/v1/requests"
    body = {"title": "UV index", "description": "Beaches of Lacanau in summer"}
    fresh = httpx.get(url + "/form-token").json()["form_token"]
    assert httpx.post(url, json={**body, "form_token": fresh}).status_code == 429  # posted at once
    assert httpx.post(url, json={**body, "form_token": "123.abc"}).status_code == 400  # forged
    assert httpx.post(url, json={**body, "form_token": _token(server, board_clock), "website": "x"}).status_code == 400
    links = {"title": "Spam", "description": "http://a.example http://b.example http://c.example"}
    assert httpx.post(url, json={**links, "form_token": _token(server, board_clock)}).status_code == 400
    codes = [httpx.post(url, json={"title": f"Soil moisture {i}", "description": "Vineyards of Entre-deux-Mers",
                                   "form_token": _token(server, board_clock)}).status_code for i in range(4)]
    assert codes == [201, 201, 201, 429]
    assert httpx.post(url, json={"title": "Soil moisture 0", "description": "same again please",
                                 "form_token": _token(server, board_clock)}).status_code == 429
    board_clock.t += 3600
    dup = httpx.post(url, json={"title": "soil MOISTURE 0", "description": "same again please", "form_token": _token(server, board_clock)})
    assert dup.status_code == 409
    board_clock.t += 2 * 86400
    stale = httpx.get(url + "/form-token").json()["form_token"]
    board_clock.t += 2 * 86400
    assert httpx.post(url, json={**body, "form_token": stale}).status_code == 400
    assert httpx.post(url + "/99999/votes").status_code == 404
    assert httpx.post(url + "/0/votes").status_code == 422


# -- reuse -----------------------------------------------------------------------------------------
def test_keys_count_downloads_per_key_and_feed_the_report_and_host_figures(server, live):
    url = server.http_url
    r = httpx.post(url + "/api/v1/reuse/keys", json={"name": "Cabinet Dr Martin", "email": "martin@example.org",
                                                     "purpose": "pollen alert for my allergic patients"})
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    key = r.json()["api_key"]
    stored = server.store._con.cursor().execute("SELECT key_hash FROM reuse_api_keys").fetchall()
    assert stored == [(hashlib.sha256(key.encode()).hexdigest(),)] and key not in json.dumps(stored)
    params = {"device": live["id"], "quantity": "pm2_5"}
    for _ in range(2):
        d = httpx.get(url + "/api/v1/readings", params=params, headers={"X-API-Key": key})
        assert d.status_code == 200 and d.headers["x-license"] == "ODbL-1.0"
        assert 'rel="license"' in d.headers["link"] and "/api/v1/readings" in d.headers["x-citation"]
    httpx.get(url + "/api/v1/readings", params={**params, "format": "csv"})  # anonymous
    assert httpx.get(url + "/api/v1/readings", params=params, headers={"X-API-Key": "dcz_nope"}).status_code == 401
    assert httpx.get(url + "/api/v1/reuse/report").status_code == 401
    rep = httpx.get(url + "/api/v1/reuse/report", headers=admin_headers()).json()
    (k,) = rep["keys"]
    assert k["key_prefix"] == key[:8] and k["datasets"]["readings"]["downloads"] == 2
    assert rep["datasets"]["readings"]["downloads"] == 3 and rep["datasets"]["readings"]["with_key"] == 2
    assert rep["devices"] == {live["id"]: 3}
    host = httpx.get(live["host_url"])
    assert host.status_code == 200 and "3" in host.text  # the host view's contribution figures
    from datacityzen.store import usage
    assert sum(usage.downloads(server.store, live["id"]).values()) == 3


def test_key_requests_are_validated_and_limited(server):
    url = server.http_url + "/api/v1/reuse/keys"
    assert httpx.post(url, json={"name": "x", "email": "nope", "purpose": "an app for pollen"}).status_code == 400
    assert httpx.post(url, json={"name": "x", "email": "a@b.org", "purpose": "short"}).status_code == 400
    codes = [httpx.post(url, json={"name": "x", "email": "a@b.org", "purpose": "an app for pollen"}).status_code
             for _ in range(6)]
    assert codes == [201] * 5 + [429]
    lic = httpx.get(server.http_url + "/api/v1/reuse/licence").json()
    assert lic["licence"] == "ODbL-1.0" and lic["url"].startswith("https://opendatacommons.org/licenses/odbl/")


# -- widgets ---------------------------------------------------------------------------------------
def test_device_and_area_widgets_show_public_values_without_cookies(server, live):
    url = server.http_url
    for path in (f"/embed/device/{live['id']}", f"/embed/area/bdx-centre"):
        r = httpx.get(url + path + "?lang=fr")
        assert r.status_code == 200 and "set-cookie" not in r.headers
        assert "frame-ancestors *" in r.headers["content-security-policy"] and "x-frame-options" not in r.headers
        assert 'data-quantity="pm2_5"' in r.text and "Indice européen" in r.text and "<script" not in r.text
        svg = httpx.get(url + path + ".svg")
        assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml" and "PM2.5" in svg.text
    latest = server.store.latest_values(live["id"])["pm2_5"]["value"]
    from datacityzen.web.home import format_number
    assert format_number(latest, 1, "en") in httpx.get(url + f"/embed/device/{live['id']}.svg?lang=en").text
    assert httpx.get(url + "/embed/device/no-such-device").status_code == 404
    assert httpx.get(url + "/embed/area/nowhere.svg").status_code == 404
    assert httpx.get(url + "/embed/device/BAD!").status_code == 422
    # a host who pauses publication disappears from widgets
    server.registry.set_paused(live["id"], True, now=datetime(2000, 1, 1, tzinfo=timezone.utc))
    assert 'data-quantity="pm2_5"' not in httpx.get(url + f"/embed/device/{live['id']}").text


# -- alert subscriptions ----------------------------------------------------------------------------
@pytest.fixture
def hook():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(({k.lower(): v for k, v in self.headers.items()}, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/alerts", received
    srv.shutdown()
    srv.server_close()


def test_subscription_fires_and_clears_with_a_verifiable_signature(server, live, hook):
    url, received = hook
    key = httpx.post(server.http_url + "/api/v1/reuse/keys", json={"name": "Dr Martin", "email": "m@example.org",
                                                                    "purpose": "alerts for my patients"}).json()["api_key"]
    latest = server.store.latest_values(live["id"])["pm2_5"]["value"]
    body = {"area": "bdx-centre", "quantity": "pm2_5", "threshold": latest / 2, "url": url, "label": "Cabinet"}
    assert httpx.post(server.http_url + "/api/v1/subscriptions", json=body).status_code == 401
    r = httpx.post(server.http_url + "/api/v1/subscriptions", json=body, headers={"X-API-Key": key})
    assert r.status_code == 201
    secret = r.json()["secret"]
    job = SubscriptionJob(server.store)
    assert job.run_once() == {"changed": 1, "delivered": 1, "retry": 0, "failed": 0}
    assert job.run_once()["changed"] == 0  # still above: no second message
    (headers, raw), = received
    ts = headers["x-datacityzen-timestamp"]
    expected = "sha256=" + hmac.new(secret.encode(), f"{ts}.".encode() + raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-datacityzen-signature"], expected)
    msg = json.loads(raw)
    assert msg["state"] == "firing" and msg["value"] == pytest.approx(latest) and msg["message"]["fr"].startswith("Cabinet")
    sub_id = r.json()["id"]
    server.store._con.cursor().execute("UPDATE alert_subscriptions SET threshold = ? WHERE id = ?", [latest * 3, sub_id])
    job.run_once()
    assert json.loads(received[1][1])["state"] == "ok"
    mine = httpx.get(server.http_url + "/api/v1/subscriptions", headers={"X-API-Key": key}).json()["subscriptions"]
    assert [s["id"] for s in mine] == [sub_id] and "secret" not in mine[0]
    assert httpx.delete(server.http_url + f"/api/v1/subscriptions/{sub_id}", headers={"X-API-Key": key}).status_code == 204


def test_subscription_input_is_checked(server, live):
    key = httpx.post(server.http_url + "/api/v1/reuse/keys", json={"name": "A", "email": "a@example.org",
                                                                    "purpose": "testing the checks"}).json()["api_key"]
    h = {"X-API-Key": key}
    base = {"area": "bdx-centre", "quantity": "pm2_5", "threshold": 25, "url": "https://example.org/hook"}
    u = server.http_url + "/api/v1/subscriptions"
    assert httpx.post(u, json={**base, "quantity": "radon"}, headers=h).status_code == 400
    assert httpx.post(u, json={**base, "area": "atlantis"}, headers=h).status_code == 404
    assert httpx.post(u, json={**base, "threshold": -1}, headers=h).status_code == 400
    assert httpx.post(u, json={**base, "url": "ftp://x"}, headers=h).status_code == 400
    from datacityzen.subscriptions import SubscriptionError, check_url
    with pytest.raises(SubscriptionError):
        check_url("http://127.0.0.1:9/x", allow_private=False)
