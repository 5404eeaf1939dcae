"""The shell of the ecosystem's public pages (atlas, request board): bilingual, no CDN, no cookies, and
offline-capable through a small service worker that keeps the last copy of each page it served."""
from __future__ import annotations

from html import escape

from fastapi.responses import Response

STYLE = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:64rem;padding:1rem;color:#1b2b34;background:#f6f8f5}
h1{font-size:1.5rem} nav{float:right} .card{background:#fff;border-radius:.5rem;padding:.5rem 1rem;margin:1rem 0;box-shadow:0 1px 3px #0002}
table{border-collapse:collapse} th,td{text-align:left;padding:.2rem .6rem .2rem 0;vertical-align:top}
.muted{color:#567;font-size:.9rem} .error{color:#a00} button{cursor:pointer}
"""


def service_worker(scope: str, cache: str) -> Response:
    """Network first; when the network fails, the cached copy of the same URL (GET only)."""
    js = f"""const CACHE = {cache!r};
self.addEventListener('install', e => self.skipWaiting());
self.addEventListener('activate', e => e.waitUntil(self.clients.claim()));
self.addEventListener('fetch', e => {{
  if (e.request.method !== 'GET') return;
  e.respondWith(fetch(e.request).then(r => {{
    if (r.ok) {{ const copy = r.clone(); caches.open(CACHE).then(c => c.put(e.request, copy)); }}
    return r;
  }}).catch(() => caches.match(e.request).then(r => r || new Response('offline / hors ligne', {{status: 503}}))));
}});
"""
    return Response(js, media_type="text/javascript", headers={"Service-Worker-Allowed": scope,
                                                             "Cache-Control": "no-cache"})


def page(lang: str, title: str, body: str, *, sw: str, switch: str, extra_style: str = "") -> str:
    other = "en" if lang == "fr" else "fr"
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{STYLE}{extra_style}</style></head>
<body><nav><a href="?lang={other}" hreflang="{other}">{escape(switch)}</a></nav>
<h1>{escape(title)}</h1>{body}
<script>if ('serviceWorker' in navigator) navigator.serviceWorker.register({sw!r}).then(r => document.documentElement.dataset.sw = 'ready');</script>
</body></html>"""
