"""The host page over plain HTTP: shown values against the readings API, languages, forms and their
protection. (The browser test, tests/test_host_view_browser.py, covers the same page in Chromium.)"""
import re
import time
from urllib.parse import urlsplit

import httpx
import pytest

from hostkit import ADMIN_TOKEN, expected_from_api, page_values, publish_history, register, token_of


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    from brokers import free_port
    from datacityzen.service import Service
    from datacityzen.settings import Settings

    service = Service(Settings(data_dir=tmp_path_factory.mktemp("host"), http_port=free_port(),
                               mqtt_port=free_port(), admin_token=ADMIN_TOKEN, webhook_allow_private=True))
    service.start()
    out = register(service, altitude_m=20.0)
    neighbour = register(service, name="Voisin", lat=44.85, lon=-0.57)
    now = time.time()
    publish_history(service, out["id"], now - 2 * 86400, now, seed=7,
                    quantities=("pm2_5", "pm10", "temperature", "humidity", "pressure", "noise_laeq"))
    publish_history(service, neighbour["id"], now - 2 * 86400, now, seed=9)
    yield service, out
    service.stop()


def form_fields(html, action_suffix):
    form = re.search(r'<form method="post" action="([^"]*' + re.escape(action_suffix) + r')"[^>]*>(.*?)</form>',
                     html, re.S)
    return form.group(1), dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.group(2)))


def test_values_shown_match_the_api_and_the_derived_functions(kit):
    service, out = kit
    html = httpx.get(out["host_url"] + "?lang=en").text
    shown = page_values(html)
    want = expected_from_api(service.http_url, out["id"], 20.0)
    for q in ("temperature", "humidity", "pm2_5", "pm10"):
        assert float(shown[q]) == want[q], q
    for q in ("sea_level_pressure", "dew_point", "heat_index", "humidex"):
        assert float(shown[q]) == pytest.approx(want[q], abs=1e-9), q
    assert shown["forecast"] == want["forecast"]
    assert shown["index"] == want["index_eu"]
    assert "Lden" in html and float(shown["lden"]) > float(shown["noise_laeq"]) - 15
    assert 'class="median"' in html  # the neighbour's median is drawn
    assert float(shown["readings"]) >= 1190


def test_language_from_browser_then_switch_with_units_per_language(kit):
    _, out = kit
    fr = httpx.get(out["host_url"], headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    assert fr.headers["content-language"] == "fr" and "Ma station météo" in fr.text
    t = page_values(fr.text)["temperature"]
    assert re.search(r"\d,\d\u202f°C", fr.text) and "\u202f%" in fr.text
    en = httpx.get(out["host_url"], headers={"Accept-Language": "en-GB,en"})
    assert en.headers["content-language"] == "en" and "My weather station" in en.text
    assert re.search(r"\d\.\d\u202f°C", en.text) and page_values(en.text)["temperature"] == t
    switched = httpx.get(out["host_url"] + "?lang=fr", headers={"Accept-Language": "en"})
    assert switched.headers["content-language"] == "fr" and switched.cookies.get("dcz_lang") == "fr"


def test_page_is_private_small_and_self_contained(kit):
    _, out = kit
    r = httpx.get(out["host_url"] + "?period=30d")
    assert r.headers["referrer-policy"] == "same-origin" and "noindex" in r.headers["x-robots-tag"]
    assert len(r.content) < 150_000
    assert not re.search(r'(src|href)="https?://', r.text)  # nothing fetched from elsewhere
    assert "44.8412" not in r.text  # the exact location is not even on the host's page
    sw = httpx.get(out["host_url"] + "/sw.js")
    assert sw.status_code == 200 and sw.headers["service-worker-allowed"] == urlsplit(out["host_url"]).path


def test_forms_refuse_cross_site_posts_and_missing_tokens(kit):
    service, out = kit
    html = httpx.get(out["host_url"]).text
    action, fields = form_fields(html, "/publication")
    url = service.http_url + action
    evil = httpx.post(url, data={**fields, "action": "pause"}, headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403
    no_token = httpx.post(url, data={"action": "pause", "lang": "en"})
    assert no_token.status_code == 403 and "expired" in no_token.text
    assert not service.registry.is_paused(out["id"])
    other = httpx.post(service.http_url + f"/host/{'B' * 43}/publication", data={**fields, "action": "pause"})
    assert other.status_code == 404


@pytest.mark.parametrize("suffix,data,message", [
    ("/alerts", {"kind": "threshold", "quantity": "pm2_5", "op": "above", "threshold": "abc", "channel": "email",
                 "target": "a@b.fr"}, "not a number"),
    ("/alerts", {"kind": "silence", "hours": "2", "channel": "webhook", "target": "ftp://x"}, "URL"),
    ("/delete-period", {"start": "2026-11-20T10:00", "end": "2026-11-20T09:00"}, "after its start"),
    ("/delete-period", {"start": "yesterday", "end": "2026-11-20T09:00"}, "date"),
    ("/location", {"precision_m": "7"}, "precision"),
    ("/settings", {"aqi_scale": "uk"}, "index"),
])
def test_bad_form_input_gets_a_400_and_changes_nothing(kit, suffix, data, message):
    service, out = kit
    html = httpx.get(out["host_url"]).text
    _, fields = form_fields(html, "/publication")
    before = (service.registry.alerts(out["id"]), service.registry.deleted_periods(out["id"]),
              service.registry.site(out["id"]))
    r = httpx.post(out["host_url"] + suffix, data={**fields, **data})
    assert r.status_code == 400 and message in r.text
    assert before == (service.registry.alerts(out["id"]), service.registry.deleted_periods(out["id"]),
                      service.registry.site(out["id"]))


def test_location_precision_form_moves_the_public_point(kit):
    service, out = kit
    html = httpx.get(out["host_url"] + "?lang=en").text
    action, fields = form_fields(html, "/location")
    r = httpx.post(service.http_url + action, data={**fields, "precision_m": "5000"})
    assert r.status_code == 303 and "msg=precision" in r.headers["location"]
    site = service.registry.site(out["id"])
    assert site["precision_m"] == 5000
    row = service.store._con.cursor().execute("SELECT public_lat, public_lon FROM device_sites WHERE device = ?",
                                              [out["id"]]).fetchone()
    from datacityzen import privacy

    assert row == privacy.snap(44.8412, -0.5797, 5000)
    httpx.post(service.http_url + action, data={**fields, "precision_m": "500"})


def test_index_choice_changes_the_index_shown(kit):
    service, out = kit
    html = httpx.get(out["host_url"] + "?lang=en").text
    action, fields = form_fields(html, "/settings")
    httpx.post(service.http_url + action, data={**fields, "aqi_scale": "us"})
    page = httpx.get(out["host_url"] + "?lang=en").text
    want = expected_from_api(service.http_url, out["id"], 20.0)
    assert 'data-scale="us"' in page and int(page_values(page)["index"]) == want["us_aqi"]
    httpx.post(service.http_url + action, data={**fields, "aqi_scale": "eu"})


def test_unknown_token_page_says_nothing_about_devices(kit):
    service, out = kit
    r = httpx.get(service.http_url + "/host/" + token_of(out["host_url"])[:-1] + "x")
    assert r.status_code == 404
    assert out["id"] not in r.text and "Balcon" not in r.text and "Voisin" not in r.text
