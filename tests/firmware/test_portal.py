"""The Wi-Fi setup portal's HTTP and DNS handling: firmware/portal.py serving from the MicroPython unix
port on real sockets, driven by CPython clients, bad input included."""
import json
import socket
import struct
import subprocess
import time

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from brokers import free_port
from fwsim import compiled_dir
from mpy import mpy_env, require_micropython

SERVE = """
import asyncio, json, gc
import machine, network, log
async def nap():
    await asyncio.sleep_ms(1)
async def warm():  # asyncio's streams and tasks, which the firmware loads anyway for MQTT
    await asyncio.wait_for_ms(nap(), 10)
    return asyncio.start_server, asyncio.open_connection, asyncio.Event
asyncio.run(warm())
gc.collect()
print("BASE", gc.mem_alloc())
import portal
cfg = {{"device_id": "dcz-3f2a9c", "mqtt": {{"host": "old.example.org", "port": 1883}},
       "portal": {{"http_port": {http}, "dns_port": {dns}, "bind": "127.0.0.1"}}}}
p = portal.Portal(cfg)
async def report():
    while True:
        await asyncio.sleep_ms(300)
        gc.collect()
        print("HEAP", gc.mem_alloc(), flush=True) if hasattr(print, "flush") else print("HEAP", gc.mem_alloc())
asyncio.create_task(report())
try:
    asyncio.run(p.serve())
except SystemExit as e:
    print("RESET", e)
"""


@pytest.fixture
def portal(tmp_path):
    """The portal running in the unix port (110 KB heap); yields (base url, dns port, folder, proc).

    free_port() only finds ports free a moment ago: with tests running in parallel another process may
    take one first, and the portal then cannot bind it and exits. Such a start is tried again on new
    ports (three times at most); a portal that never listens fails the test with its own output."""
    (tmp_path / "device.json").write_text(json.dumps({"device_id": "dcz-3f2a9c", "wifi": {"ssid": "", "password": ""}}))
    (tmp_path / "sim_hw.json").write_text(json.dumps({"seed": 3}))
    script = tmp_path / "serve.py"
    for attempt in range(3):
        http, dns = free_port(), free_port()
        script.write_text(SERVE.format(http=http, dns=dns))
        proc = subprocess.Popen([require_micropython(), "-X", "heapsize=110K", str(script)], cwd=tmp_path,
                                env=mpy_env((compiled_dir(),)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        deadline = time.monotonic() + 10
        listening = False
        while not listening and time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", http), timeout=0.2).close()
                listening = True
            except OSError:
                time.sleep(0.05)
        if listening and proc.poll() is None:
            break
        if proc.poll() is None:
            proc.kill()
        output = proc.communicate()[0]
    else:
        pytest.fail("the portal never listened:\n" + output[-2000:])
    yield f"http://127.0.0.1:{http}", dns, tmp_path, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def alive(proc):
    assert proc.poll() is None, proc.stdout.read()


def test_page_lists_networks_in_french_and_english(portal):
    url, _, _, proc = portal
    r = httpx.get(url + "/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    for text in ("Réseau Wi-Fi", "Wi-Fi network", "Mot de passe", "password", "Serveur", "server", "dcz-3f2a9c"):
        assert text in page
    assert '<option value="datacityzen-sim">' in page and '<option value="Livebox-2F4A">' in page  # the scan
    assert 'value="old.example.org"' in page  # the current server, to keep or change


@pytest.mark.parametrize("path", ["/generate_204", "/gen_204", "/hotspot-detect.html", "/connecttest.txt",
                                  "/library/test/success.html", "/anything/else"])
def test_captive_probes_are_sent_to_the_portal(portal, path):
    """Android expects 204 and iOS "Success" when online: anything else (our 302) opens the sign-in sheet."""
    url, _, _, _ = portal
    r = httpx.get(url + path, headers={"Host": "connectivitycheck.gstatic.com"})
    assert r.status_code == 302 and r.headers["location"] == "http://192.168.4.1/"


def test_saving_writes_device_json_and_reboots(portal):
    url, _, folder, proc = portal
    r = httpx.post(url + "/save", content=b"ssid=Livebox-2F4A&ssid_other=&password=caf%C3%A9+au+lait&host=data.example.org&port=8883",
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and "Livebox-2F4A" in r.text and "redémarre" in r.text and "restarts" in r.text
    out, _ = proc.communicate(timeout=10)
    assert "RESET machine.reset()" in out
    saved = json.loads((folder / "device.json").read_text())
    assert saved["wifi"] == {"ssid": "Livebox-2F4A", "password": "café au lait"}
    assert saved["mqtt"] == {"host": "data.example.org", "port": 8883}
    assert saved["device_id"] == "dcz-3f2a9c"  # the rest is kept


@pytest.mark.parametrize("body,status,words", [
    (b"ssid=Home&password=short&host=a.b&port=1883", 400, "8 to 63"),
    (b"ssid=&password=&host=a.b", 400, "choose a network"),
    (b"ssid=Home&password=&port=1883", 400, "server"),  # missing field
    (b"ssid=Home&password=&host=a.b&port=99999", 400, "port"),
    (b"ssid=Home%zz&host=a.b", 400, "percent-encoding"),
    (b"ssid=Home%4&host=a.b", 400, "percent-encoding"),
    (b"ssid=%FF%FE&host=a.b", 400, "UTF-8"),
    (b"ssid=Home&host=<script>&port=1", 400, "server"),
])
def test_bad_forms_get_a_clear_bilingual_400_and_nothing_is_saved(portal, body, status, words):
    url, _, folder, proc = portal
    before = (folder / "device.json").read_text()
    r = httpx.post(url + "/save", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == status and words in r.text
    assert 'class="err"' in r.text and "<script>" not in r.text
    assert (folder / "device.json").read_text() == before
    alive(proc)


def raw(url, data, read=True):
    host, port = url[7:].split(":")
    with socket.create_connection((host, int(port)), timeout=15) as s:
        try:
            s.sendall(data)
        except OSError:  # the portal may close before it reads everything: that is the point
            pass
        if not read:
            return b""
        chunks = []
        try:
            while True:
                c = s.recv(4096)
                if not c:
                    break
                chunks.append(c)
        except OSError:
            pass
        return b"".join(chunks)


def test_oversized_and_malformed_requests_are_refused_and_the_portal_lives_on(portal):
    url, _, _, proc = portal
    assert raw(url, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.0 431")
    assert raw(url, b"GET / HTTP/1.1\r\nX-Junk: " + b"b" * 3000 + b"\r\n\r\n").startswith(b"HTTP/1.0 431")
    assert raw(url, b"POST /save HTTP/1.1\r\nContent-Length: 100000\r\n\r\nssid=x").startswith(b"HTTP/1.0 413")
    assert raw(url, b"POST /save HTTP/1.1\r\n\r\nssid=x").startswith(b"HTTP/1.0 411")
    assert raw(url, b"HELLO\r\n\r\n").startswith(b"HTTP/1.0 400")
    assert raw(url, b"GET / HTTP/1.1\r\nno colon here\r\n\r\n").startswith(b"HTTP/1.0 400")
    assert raw(url, b"DELETE / HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.0 405")
    raw(url, b"GET / HT", read=False)  # a client that goes away mid-request
    assert httpx.get(url + "/").status_code == 200
    alive(proc)


# One portal process for every example, on purpose: it must survive all of them in a row.
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=600) | st.text(alphabet="ab=&%+0123456789ABCDEFxyz\u00e9", max_size=300).map(str.encode))
def test_any_form_body_gets_an_answer_never_a_crash(portal, body):
    url, _, folder, proc = portal
    for name in (b"ssid", b"%73", b"%53"):  # a valid form would save and reboot: that has its own test
        body = body.replace(name, b"x")
    r = httpx.post(url + "/save", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code in (400, 413)
    alive(proc)


def dns_query(port, name, qtype=1, ident=0x1234):
    q = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(q, ("127.0.0.1", port))
        return s.recvfrom(512)[0]


def test_dns_answers_every_name_with_the_portal_address(portal):
    _, dns, _, proc = portal
    for name in ("connectivitycheck.gstatic.com", "captive.apple.com", "example.org"):
        r = dns_query(dns, name)
        ident, flags, qd, an = struct.unpack(">HHHH", r[:8])
        assert (ident, flags & 0x8000, flags & 0x000F, qd, an) == (0x1234, 0x8000, 0, 1, 1)
        assert r[-4:] == bytes([192, 168, 4, 1])
        assert struct.unpack(">H", r[-6:-4])[0] == 4  # RDLENGTH
    r = dns_query(dns, "example.org", qtype=28)  # AAAA: no IPv6 address, no error
    assert struct.unpack(">H", r[6:8])[0] == 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # garbage is ignored
        s.sendto(b"\x00\x01garbage", ("127.0.0.1", dns))
    assert dns_query(dns, "still.alive").endswith(bytes([192, 168, 4, 1]))
    alive(proc)


def test_portal_heap_stays_small_under_requests(portal):
    url, _, _, proc = portal
    for _ in range(20):
        httpx.get(url + "/")
        raw(url, b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\n\r\n")
    time.sleep(0.7)
    proc.kill()
    out, _ = proc.communicate()
    heap = [int(line.split()[1]) for line in out.splitlines() if line.startswith("HEAP ")]
    base = int(next(line.split()[1] for line in out.splitlines() if line.startswith("BASE ")))
    idle = heap[-1]  # sampled after the last request (the sleep above spans two samples)
    print("portal heap (bytes, after gc): simulated board + asyncio", base, "; with the portal serving",
          heap[0], "->", max(heap), "; idle after the requests", idle)
    # The portal runs instead of the app (app.py reboots into it), so it has the heap to itself: what
    # it keeps (its code as .mpy, sockets, scan list) is bounded, and the whole stays far below 110 KB.
    # A sample taken while a request is served also holds that request (3 KB of path here) and its
    # parsing: about 3.6 KB more, seen in a CI run under load, hence the second bound.
    assert idle - base < 24 * 1024
    assert max(heap) - base < 28 * 1024
    assert max(heap) < 64 * 1024
    assert idle - min(heap) < 1024  # no creep: 40 requests later it keeps what it kept at first
