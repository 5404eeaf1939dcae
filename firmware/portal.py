"""Wi-Fi setup portal: an open access point named after the device, a DNS responder that answers every
name with the AP's address, and one small bilingual page (French / English) to pick the network, type
its password and the server; saving writes device.json and reboots into normal mode.

Opened on first boot (no network configured; it stays open until saved) or, after a reboot, when the
configured network has been absent for cfg["wifi"]["portal_after_s"] (the app decides, through
portal_gate.py; the portal does not fit in RAM beside the running app). Then it closes when that network is back in the scan or after
cfg["portal"]["timeout_s"] (300), and the device reboots into normal mode (measuring into the spool).

Captive portal detection (how a phone decides to show the sign-in sheet):
- Android asks http://connectivitycheck.gstatic.com/generate_204 and expects "204 No Content" when the
  internet is reachable; anything else (we answer 302 to our page) opens the sign-in notification.
- iOS/macOS ask http://captive.apple.com/hotspot-detect.html and expect a page reading "Success";
  anything else (302 to our page) opens the captive network assistant sheet.
- Windows asks /connecttest.txt (and /ncsi.txt): same treatment.
Every name resolves to us (DNS below), so any other URL on any host is also sent to our page.

RAM: one connection at a time (others wait up to 3 s, then get 503), the request head read into a 1 KiB buffer, a body of
at most 512 bytes, the page written in pieces; no string of the whole page is ever built.
"""
import json
import os

import asyncio
import log
from micropython import const

_MAX_HEAD = const(1024)
_MAX_BODY = const(512)
_TIMEOUT_MS = const(10000)
_AP_IP = "192.168.4.1"  # the ESP32 port's default soft-AP address


class BadRequest(Exception):
    def __init__(self, status, en, fr):
        super().__init__(en)
        self.status = status
        self.en = en
        self.fr = fr


def _hex(c):
    return 0x30 <= c <= 0x39 or 0x41 <= c <= 0x46 or 0x61 <= c <= 0x66


def unquote(b):
    """Decode application/x-www-form-urlencoded bytes ('+' is a space) to str; BadRequest if a '%' is
    not followed by two hex digits or the result is not UTF-8."""
    out = bytearray()
    i = 0
    n = len(b)
    while i < n:
        c = b[i]
        if c == 0x25:  # %
            h = b[i + 1:i + 3]
            if len(h) != 2 or not _hex(h[0]) or not _hex(h[1]):
                raise BadRequest(400, "bad percent-encoding in the form", "encodage %XX invalide dans le formulaire")
            out.append(int(h, 16))
            i += 3
        else:
            out.append(0x20 if c == 0x2B else c)
            i += 1
    try:
        return out.decode()
    except UnicodeError:
        raise BadRequest(400, "the form is not UTF-8", "le formulaire n'est pas en UTF-8")


def parse_form(body):
    """{name: value} from a urlencoded body (the last of repeated names wins)."""
    fields = {}
    for part in bytes(body).split(b"&"):
        if not part:
            continue
        k, _, v = part.partition(b"=")
        fields[unquote(k)] = unquote(v)
    return fields


def _host_ok(h):
    if not 1 <= len(h) <= 253:
        return False
    for c in h:
        if not ("a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9" or c in ".-"):
            return False
    return not h.startswith(("-", "."))


def check_settings(f):
    """The new wifi/mqtt settings from the form, or BadRequest naming the field."""
    ssid = f.get("ssid_other") or f.get("ssid") or ""
    password = f.get("password", "")
    host = f.get("host", "").strip()
    port = f.get("port", "1883").strip() or "1883"
    if not 1 <= len(ssid.encode()) <= 32:  # IEEE 802.11: an SSID is 1 to 32 octets
        raise BadRequest(400, "choose a network (1 to 32 characters)", "choisissez un réseau (1 à 32 caractères)")
    if password and not 8 <= len(password) <= 63:  # WPA2 passphrase: 8 to 63 characters
        raise BadRequest(400, "a Wi-Fi password has 8 to 63 characters (or none for an open network)",
                         "un mot de passe Wi-Fi fait 8 à 63 caractères (ou aucun pour un réseau ouvert)")
    if not _host_ok(host):
        raise BadRequest(400, "server: a host name or IP address, like data.example.org",
                         "serveur : un nom d'hôte ou une adresse IP, par exemple data.example.org")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise BadRequest(400, "port: a number from 1 to 65535", "port : un nombre de 1 à 65535")
    return {"wifi": {"ssid": ssid, "password": password}, "mqtt": {"host": host, "port": int(port)}}


def save_settings(new, path="device.json"):
    """Lay the new settings over device.json (written to a temporary file, then renamed)."""
    try:
        with open(path) as f:
            current = json.load(f)
    except (OSError, ValueError):
        current = {}
    for k in new:
        section = current.get(k)
        if not isinstance(section, dict):
            section = current[k] = {}
        for kk in new[k]:
            section[kk] = new[k][kk]
    with open(path + ".tmp", "w") as f:
        json.dump(current, f)
    try:
        os.rename(path + ".tmp", path)
    except OSError:
        os.remove(path)
        os.rename(path + ".tmp", path)


def _esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


_PROBES = ("/generate_204", "/gen_204", "/hotspot-detect.html", "/library/test/success.html",
           "/connecttest.txt", "/ncsi.txt", "/redirect", "/canonical.html", "/success.txt")

_HEAD = (b'<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">'
         b'<meta name="viewport" content="width=device-width,initial-scale=1">'
         b"<title>DataCityZen</title><style>body{font-family:sans-serif;max-width:28em;margin:1em auto;"
         b"padding:0 1em}label{display:block;margin-top:.8em}input,select{width:100%;padding:.4em;"
         b"font-size:1em}i{color:#555}.err{color:#b00}</style></head><body>")


class Portal:
    def __init__(self, cfg, device_file="device.json"):
        p = cfg.get("portal") or {}
        self.device = cfg["device_id"]
        self.ssid = "DataCityZen-" + self.device
        self.http_port = p.get("http_port", 80)
        self.dns_port = p.get("dns_port", 53)
        self.host = p.get("bind", "0.0.0.0")
        self.timeout_ms = int(p.get("timeout_s", 300) * 1000)  # 0: until saved (first boot)
        self.watch = (cfg.get("wifi") or {}).get("ssid") or None  # the network we wait to come back
        if not self.watch:
            self.timeout_ms = 0
        self.device_file = device_file
        self.current = cfg
        self.ip = _AP_IP
        self.networks = []
        self._busy = False
        self._closed = False
        self._server = None
        self._dns = None
        self._ap = None
        self.saved = asyncio.Event()

    # ---- access point and network scan -------------------------------------------------------
    def _start_ap(self):
        try:
            import network
        except ImportError:
            return
        ap = network.WLAN(network.AP_IF)
        ap.active(True)
        try:
            ap.config(essid=self.ssid)
        except (OSError, ValueError, TypeError):
            pass
        self.ip = ap.ifconfig()[0]
        self._ap = ap
        self.scan()

    def scan(self):
        """Remember the names of the networks in range (strongest first, no duplicates)."""
        try:
            import network

            sta = network.WLAN(network.STA_IF)
            sta.active(True)  # the ESP32 scans from the station interface (AP+STA mode)
            found = sta.scan()
        except (ImportError, OSError):
            found = []
        found = sorted(found, key=lambda n: -n[3])
        names = []
        for n in found:
            try:
                name = n[0].decode()
            except UnicodeError:
                continue
            if name and name not in names:
                names.append(name)
            if len(names) == 20:
                break
        self.networks = names

    async def serve(self):
        """Serve until the settings are saved (then reboot into normal mode), the configured network
        is back in the scan ("network_back"), `timeout_s` passed ("timeout") or close() ("closed")."""
        self._start_ap()
        self._server = await asyncio.start_server(self._client, self.host, self.http_port)
        self._dns = asyncio.create_task(self._dns_loop())
        log.event("portal_open", ssid=self.ssid, ip=self.ip, http_port=self.http_port, dns_port=self.dns_port)
        waited = 0
        why = "closed"
        while not self._closed:
            if self.saved.is_set():
                await asyncio.sleep_ms(500)  # let the "saved" page reach the phone
                self.close()
                log.event("reset", reason="portal_saved")
                import machine

                machine.reset()
            await asyncio.sleep_ms(200)
            waited += 200
            if self.watch and waited % 10000 == 0 and not self._busy:
                self.scan()
                if self.watch in self.networks:
                    why = "network_back"
                    break
            if self.timeout_ms and waited >= self.timeout_ms:
                why = "timeout"
                break
        self.close()
        return why

    def close(self):
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
        if self._dns is not None:
            self._dns.cancel()
        if self._ap is not None:
            self._ap.active(False)
        log.event("portal_closed")

    # ---- DNS: every name is us ----------------------------------------------------------------
    async def _dns_loop(self):
        import socket

        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(socket.getaddrinfo(self.host, self.dns_port)[0][-1])
        s.setblocking(False)
        buf = bytearray(512)  # RFC 1035 4.2.1: UDP messages are at most 512 bytes
        ip = bytes(int(x) for x in self.ip.split("."))
        try:
            while True:
                try:
                    n, addr = _recvfrom(s, buf)
                except OSError:
                    await asyncio.sleep_ms(50)
                    continue
                reply = dns_answer(memoryview(buf)[:n], ip)
                if reply:
                    try:
                        s.sendto(reply, addr)
                    except OSError:
                        pass
        finally:
            s.close()

    # ---- HTTP ---------------------------------------------------------------------------------
    async def _client(self, reader, writer):
        for _ in range(60):  # one at a time (the heap holds one request): wait up to 3 s for a turn
            if not self._busy:
                break
            await asyncio.sleep_ms(50)
        if self._busy:
            try:
                writer.write(b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n\r\n")
                await writer.drain()
            except OSError:
                pass
            await _close(writer)
            return
        self._busy = True
        try:
            await asyncio.wait_for_ms(self._handle(reader, writer), _TIMEOUT_MS)
        except BadRequest as e:
            await self._page(writer, e.status, error=e)
        except (asyncio.TimeoutError, OSError, EOFError):
            pass
        except Exception as e:  # never let one request take the portal down
            log.event("portal_error", error=repr(e))
        finally:
            await _close(writer)
            self._busy = False

    async def _read_head(self, reader):
        buf = bytearray()
        while True:
            chunk = await reader.read(256)
            if not chunk:
                raise EOFError
            buf.extend(chunk)
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                return bytes(buf[:end]), bytes(buf[end + 4:])
            if len(buf) > _MAX_HEAD:
                raise BadRequest(431, "request too large", "requête trop grande")

    async def _handle(self, reader, writer):
        head, rest = await self._read_head(reader)
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            raise BadRequest(400, "malformed request line", "ligne de requête invalide")
        method, target = parts[0], parts[1]
        headers = {}
        for line in lines[1:]:
            k, sep, v = line.partition(b":")
            if not sep:
                raise BadRequest(400, "malformed header", "en-tête invalide")
            headers[k.strip().lower()] = v.strip()
        path = target.split(b"?")[0].decode()
        host = headers.get(b"host", b"").split(b":")[0].decode()
        if path == "/" or path == "/save":
            if host and host != self.ip and host != "localhost" and not host.startswith("127."):
                return await self._redirect(writer)  # another site's name: come to us
            if method == b"GET" and path == "/":
                if b"scan=1" in target:
                    self.scan()
                return await self._page(writer, 200)
            if method == b"POST" and path == "/save":
                body = await self._read_body(reader, headers, rest)
                new = check_settings(parse_form(body))
                save_settings(new, self.device_file)
                self.saved.set()
                return await self._page(writer, 200, saved=new)
            writer.write(b"HTTP/1.0 405 Method Not Allowed\r\nAllow: GET, POST\r\nConnection: close\r\n\r\n")
            await writer.drain()
            return
        # Captive-portal probes (_PROBES) and any other URL: send the phone to our page.
        await self._redirect(writer)

    async def _read_body(self, reader, headers, rest):
        length = headers.get(b"content-length")
        if length is None or not length.isdigit():
            raise BadRequest(411, "Content-Length required", "Content-Length manquant")
        length = int(length)
        if length > _MAX_BODY:
            raise BadRequest(413, "form too large", "formulaire trop grand")
        body = bytearray(rest[:length])
        while len(body) < length:
            chunk = await reader.read(length - len(body))
            if not chunk:
                raise BadRequest(400, "form cut short", "formulaire incomplet")
            body.extend(chunk)
        return body

    async def _redirect(self, writer):
        writer.write(b"HTTP/1.0 302 Found\r\nLocation: http://%s/\r\nCache-Control: no-store\r\n"
                     b"Content-Length: 0\r\nConnection: close\r\n\r\n" % self.ip.encode())
        await writer.drain()

    async def _page(self, writer, status, error=None, saved=None):
        reason = {200: b"OK", 400: b"Bad Request", 411: b"Length Required", 413: b"Payload Too Large",
                  431: b"Request Header Fields Too Large"}.get(status, b"Error")
        w = writer.write
        w(b"HTTP/1.0 %d %s\r\nContent-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\n"
          b"Connection: close\r\n\r\n" % (status, reason))
        w(_HEAD)
        w(b"<h1>DataCityZen</h1><p>Capteur / sensor <b>%s</b></p>" % _esc(self.device).encode())
        if saved is not None:
            w(b"<p>Enregistr\xc3\xa9. Le capteur red\xc3\xa9marre et rejoint <b>%s</b>.<br>"
              b"<i>Saved. The sensor restarts and joins <b>%s</b>.</i></p></body></html>"
              % (_esc(saved["wifi"]["ssid"]).encode(), _esc(saved["wifi"]["ssid"]).encode()))
            await writer.drain()
            return
        if error is not None:
            w(b'<p class="err">%s<br><i>%s</i></p>' % (_esc(error.fr).encode(), _esc(error.en).encode()))
        w(b'<form method="post" action="/save"><label>R\xc3\xa9seau Wi-Fi <i>/ Wi-Fi network</i>'
          b'<select name="ssid">')
        for name in self.networks:
            n = _esc(name).encode()
            w(b'<option value="%s">%s</option>' % (n, n))
        await writer.drain()
        mqtt = self.current.get("mqtt") or {}
        w(b'<option value="">\xe2\x80\x94</option></select></label>'
          b'<label>Autre r\xc3\xa9seau <i>/ other network</i><input name="ssid_other" maxlength="32"></label>'
          b'<label>Mot de passe <i>/ password</i><input name="password" type="password" maxlength="63"></label>'
          b'<label>Serveur <i>/ server</i><input name="host" required maxlength="253" value="%s"></label>'
          b'<label>Port<input name="port" inputmode="numeric" maxlength="5" value="%d"></label>'
          b'<p><button type="submit">Enregistrer <i>/ save</i></button> '
          b'<a href="/?scan=1">Rechercher les r\xc3\xa9seaux <i>/ scan again</i></a></p></form></body></html>'
          % (_esc(str(mqtt.get("host") or "")).encode(), int(mqtt.get("port") or 1883)))
        await writer.drain()


def dns_answer(q, ip):
    """The reply to DNS query `q` (bytes-like) giving `ip` (4 bytes) for an A (or ANY) question;
    an empty answer for other types; None for what is not a well-formed standard query."""
    n = len(q)
    if n < 17 or q[2] & 0xF8 or q[4] != 0 or q[5] != 1:  # QR=0, OPCODE=0 (RFC 1035 4.1.1), 1 question
        return None
    i = 12
    while True:
        if i >= n:
            return None
        ln = q[i]
        if ln == 0:
            break
        if ln & 0xC0 or ln > 63:  # no compression in a question; labels <= 63 octets
            return None
        i += 1 + ln
    end = i + 5  # zero octet, QTYPE, QCLASS
    if end > n:
        return None
    qtype = q[i + 1] << 8 | q[i + 2]
    answer = qtype in (1, 255)  # A or ANY
    out = bytearray(q[:end])
    out[2] = 0x84 | (q[2] & 0x01)  # QR, AA, keep RD
    out[3] = 0x80  # RA, RCODE 0
    out[6] = 0
    out[7] = 1 if answer else 0  # ANCOUNT
    out[8] = out[9] = out[10] = out[11] = 0  # no authority or additional records
    if answer:  # a pointer to the question's name, type A, class IN, TTL 60 s, 4 octets
        out.extend(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04")
        out.extend(ip)
    return out


def _recvfrom(s, buf):
    data, addr = s.recvfrom(len(buf))
    buf[:len(data)] = data
    return len(data), addr


async def _close(writer):
    try:
        writer.close()
        await writer.wait_closed()
    except Exception:  # already closed by the peer
        pass
