"""The ecosystem's pages in headless Chromium (Playwright driving the system browser): the atlas (map,
places, coverage; offline reload from the service worker), the request board (propose and vote through
the HTML forms, both languages) and a widget embedded by a third-party page in an iframe, without cookies."""
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hostkit import ADMIN_TOKEN, publish_history, register
from mpy import missing_tool

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--disable-background-networking"]
URBAN = {"type": "Polygon", "coordinates": [[[-0.62, 44.82], [-0.54, 44.82], [-0.54, 44.87], [-0.62, 44.87], [-0.62, 44.82]]]}
RURAL = {"type": "Polygon", "coordinates": [[[-0.30, 44.60], [-0.10, 44.60], [-0.10, 44.75], [-0.30, 44.75], [-0.30, 44.60]]]}


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
def site(make_service):
    server = make_service(admin_token=ADMIN_TOKEN)
    reg = register(server, name="Balcon Chartrons", lat=44.8412, lon=-0.5797)
    now = int(time.time())
    publish_history(server, reg["id"], now - 3600, now - 60, interval_s=600)
    from datacityzen.atlas import parse_places
    from datacityzen.consolidation.geometry import Area, polygons_of
    from datacityzen.store.atlas_places import AtlasPlaces
    from datacityzen.store.consolidated import for_store
    for_store(server.store).import_areas([Area("bdx", "Bordeaux centre", "urban", polygons_of(URBAN, "u"), URBAN),
                                          Area("creon", "Créon", "rural", polygons_of(RURAL, "r"), RURAL)])
    AtlasPlaces.of(server.store).replace_all(parse_places(
        "id,kind,name,lat,lon,workshops,description_fr,description_en\n"
        "cohabit,fablab,Fablab Cohabit,44.8070,-0.6050,yes,Ateliers de montage,Assembly workshops\n"
        "expo-1,exhibition_stop,Cap Sciences,44.8590,-0.5530,no,Exposition,Exhibition\n"))
    return server, reg


def test_atlas_page_map_tables_languages_and_offline(browser, site):
    server, reg = site
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.http_url + "/atlas/?lang=fr")
    assert page.locator("h1").inner_text() == "Atlas du réseau"
    assert page.locator(f'#atlas-map circle[data-device="{reg["id"]}"]').count() == 1
    assert page.locator("#atlas-map rect.place").count() == 2
    assert page.locator('#atlas-map path.level-none[data-area="creon"]').count() == 1
    assert page.locator('#atlas-map path.level-covered[data-area="bdx"]').count() == 1
    assert "aucune donnée" in page.locator('#coverage tr[data-area="creon"]').inner_text()
    assert "Espace" not in page.locator("#places").inner_text() and "Fablab Cohabit" in page.locator("#places").inner_text()
    page.click("nav a")
    assert page.locator("h1").inner_text() == "Atlas of the network"
    assert "no data" in page.locator('#coverage tr[data-area="creon"]').inner_text()
    # offline: the service worker's copy
    page.goto(server.http_url + "/atlas/?lang=fr")
    page.wait_for_function("document.documentElement.dataset.sw === 'ready' && navigator.serviceWorker.controller !== null",
                           timeout=15000)
    page.reload()
    context.set_offline(True)
    page.reload()
    assert page.locator("h1").inner_text() == "Atlas du réseau"
    assert page.locator("#atlas-map circle").count() == 1
    context.close()


def test_request_board_propose_and_vote_through_the_forms(browser, site):
    server, _ = site
    page = browser.new_page()
    page.goto(server.http_url + "/requests/?lang=en")
    page.fill("#propose input[name=title]", "Radon")
    page.fill("#propose textarea[name=description]", "Granite cellars in the north of the Médoc")
    page.click("#propose button")  # too fast: the anti-spam delay
    assert "too fast" in page.locator(".error").inner_text()
    time.sleep(3.2)
    page.fill("#propose input[name=title]", "Radon")
    page.fill("#propose textarea[name=description]", "Granite cellars in the north of the Médoc")
    page.click("#propose button")
    assert "your proposal is on the board" in page.locator(".notice").inner_text()
    card = page.locator(".request", has_text="Radon")
    card.locator("button").click()
    assert page.locator(".notice").inner_text() == "Thank you for your vote."
    assert page.locator(".request", has_text="Radon").locator(".votes").inner_text() == "1"
    page.locator(".request", has_text="Radon").locator("button").click()
    assert "already voted" in page.locator(".notice").inner_text()
    page.goto(server.http_url + "/requests/?lang=fr")
    assert "proposée" in page.locator(".request", has_text="Radon").inner_text()
    page.close()


def test_widget_in_a_third_party_iframe_sets_no_cookie(browser, site):
    server, reg = site
    html = (f'<!doctype html><html><body><h1>Cabinet du Dr Martin</h1>'
            f'<iframe id="w" src="{server.http_url}/embed/device/{reg["id"]}?lang=fr" width="320" height="260"></iframe>'
            f'<img id="b" src="{server.http_url}/embed/device/{reg["id"]}.svg"></body></html>').encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *a):
            pass

    third = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=third.serve_forever, daemon=True).start()
    try:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"http://localhost:{third.server_address[1]}/")
        frame = page.frame_locator("#w")
        assert "Indice européen" in frame.locator(".index").inner_text()
        assert frame.locator('tr[data-quantity="pm2_5"] td.value').inner_text()
        page.wait_for_function("document.getElementById('b').naturalWidth > 0", timeout=10000)
        assert context.cookies() == []
        context.close()
    finally:
        third.shutdown()
        third.server_close()
