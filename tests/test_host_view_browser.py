"""The host view in headless Chromium (Playwright driving the system browser) for a simulated kit.

A kit's last week is published over MQTT in the wire format through the server's own broker and
ingest; the page's values are checked against the readings API, the language is switched, an alert
is set (and fired to a local webhook), a period is deleted, the page is reloaded offline from the
service worker's copy, and screenshots at phone and desktop sizes go to test-artifacts/.
"""
import os
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from hostkit import ADMIN_TOKEN, expected_from_api, publish_history, register
from mpy import missing_tool

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
LAUNCH_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--disable-background-networking"]


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        missing_tool("chromium missing: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_tool("playwright missing: pip install playwright")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture
def webhook():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/dcz", received
    server.shutdown()
    server.server_close()


def card_value(page, q):
    return page.locator(f'[data-q="{q}"]').first.get_attribute("data-value")


def test_host_view_in_chromium(make_service, browser, webhook):
    hook_url, hook_received = webhook
    service = make_service(admin_token=ADMIN_TOKEN, webhook_allow_private=True)
    out = register(service, altitude_m=20.0)
    neighbour = register(service, name="Voisin", lat=44.85, lon=-0.57)
    now = time.time()
    publish_history(service, out["id"], now - 7 * 86400, now, seed=7)
    publish_history(service, neighbour["id"], now - 7 * 86400, now, seed=11)
    origin = service.http_url
    ARTIFACTS.mkdir(exist_ok=True)

    context = browser.new_context(locale="fr-FR", viewport={"width": 390, "height": 844})
    page = context.new_page()
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    response = page.goto(out["host_url"])
    assert response.status == 200 and len(response.body()) < 150_000
    assert all(urlsplit(u).netloc == urlsplit(origin).netloc for u in requests)  # nothing from elsewhere

    # French picked from the browser, values as the API says
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "Ma station météo" in page.title()
    want = expected_from_api(origin, out["id"], 20.0)
    assert float(card_value(page, "temperature")) == want["temperature"]
    assert float(card_value(page, "pm2_5")) == want["pm2_5"]
    assert float(card_value(page, "dew_point")) == pytest.approx(want["dew_point"], abs=1e-9)
    assert float(card_value(page, "sea_level_pressure")) == pytest.approx(want["sea_level_pressure"], abs=1e-9)
    assert card_value(page, "forecast") == want["forecast"] and card_value(page, "index") == want["index_eu"]
    shown_t = page.locator('[data-q="temperature"] .v').inner_text()
    assert shown_t == f"{want['temperature']:.1f}".replace(".", ",") + "\u202f°C"
    page.screenshot(path=str(ARTIFACTS / "host-view-phone-fr.png"), full_page=True)

    # switch to English
    page.click("#switch-lang")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en" and "My weather station" in page.title()
    assert page.locator('[data-q="temperature"] .v').inner_text() == f"{want['temperature']:.1f}\u202f°C"

    # set an alert: PM2.5 above 1 µg/m³, to a webhook; the alert job fires it
    form = page.locator("#add-alert")
    form.locator('select[name="kind"]').select_option("threshold")
    form.locator('select[name="quantity"]').select_option("pm2_5")
    form.locator('select[name="op"]').select_option("above")
    form.locator('input[name="threshold"]').fill("1")
    form.locator('select[name="channel"]').select_option("webhook")
    form.locator('input[name="target"]').fill(hook_url)
    form.locator("button").click()
    page.wait_for_load_state()
    assert page.locator("#message").inner_text(timeout=5000) == "Alert saved."
    assert page.locator("[data-alert]").count() == 1
    assert service.alerts.run_once() == 1 and len(hook_received) == 1
    page.reload()
    assert "sent" in page.locator("#alert-events").inner_text()

    # delete a period (local time in the form): two hours, three days ago
    start = (datetime.now(timezone.utc) - timedelta(days=3)).astimezone().replace(minute=0, second=0, microsecond=0)
    from zoneinfo import ZoneInfo

    local = start.astimezone(ZoneInfo("Europe/Paris"))
    end = local + timedelta(hours=2)
    params = {"device": out["id"], "quantity": "pm2_5,pm10,temperature,humidity,pressure",
              "start": local.isoformat(), "end": end.isoformat()}
    # 7200 s / 145 s = 49.7: the period holds 49 or 50 readings depending on the phase; count them.
    before = len(httpx.get(origin + "/api/v1/readings", params=params).json())
    assert before in (5 * 49, 5 * 50)
    delete = page.locator("#delete-period")
    delete.locator('input[name="start"]').fill(local.strftime("%Y-%m-%dT%H:%M"))
    delete.locator('input[name="end"]').fill(end.strftime("%Y-%m-%dT%H:%M"))
    delete.locator("button").click()
    page.wait_for_load_state()
    removed = int(re.match(r"(\d+) values deleted", page.locator("#message").inner_text()).group(1))
    in_period = httpx.get(origin + "/api/v1/readings", params=params).json()
    assert in_period == [] and removed == before
    assert page.locator("#deleted-periods li").count() == 1

    # phone and desktop screenshots
    page.goto(out["host_url"] + "?lang=en&period=7d")
    page.screenshot(path=str(ARTIFACTS / "host-view-phone-en.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.screenshot(path=str(ARTIFACTS / "host-view-desktop-en.png"), full_page=True)

    # offline: the service worker shows the last copy
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # now controlled by the worker, which keeps this copy
    page.wait_for_load_state()
    context.set_offline(True)
    page.reload()
    assert "My weather station" in page.title()
    context.set_offline(False)

    # an unknown token: 404 page, nothing about the device
    r = page.goto(origin + "/host/" + "Z" * 43)
    assert r.status == 404 and out["id"] not in page.content() and "Balcon" not in page.content()
    context.close()
