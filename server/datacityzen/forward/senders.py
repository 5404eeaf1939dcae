"""Posting to the peers over HTTP (stdlib urllib: no extra dependency), with outcomes the runner can act on.

A 2xx is success. 408, 429 and 5xx, or no answer at all, are worth retrying; any other 4xx means the
peer refuses this body or this identity, so retrying the same request would not help.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from .. import __version__

USER_AGENT = f"DataCityZen/{__version__} (forwarder)"
RETRYABLE = {408, 425, 429}


@dataclass
class Outcome:
    ok: bool
    retry: bool
    status: int | None
    detail: str  # a short reason, never a secret


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = 10.0) -> Outcome:
    req = urllib.request.Request(url, data=body, method="POST", headers={"User-Agent": USER_AGENT, **headers})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read(4096)
            return Outcome(True, False, resp.status, f"HTTP {resp.status}")
    except urllib.error.HTTPError as exc:
        text = exc.read(200).decode("utf-8", "replace").strip().replace("\n", " ")
        retry = exc.code >= 500 or exc.code in RETRYABLE
        return Outcome(False, retry, exc.code, f"HTTP {exc.code} {text[:120]}")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Outcome(False, True, None, f"no answer: {type(reason).__name__}")


def send_sensor_community(base_url: str, sensor_id: str, pin: int, body: dict, timeout: float = 10.0) -> Outcome:
    """One per-sensor push, as the airrohr firmware sends it to api.sensor.community."""
    return post(f"{base_url}/v1/push-sensor-data/", json.dumps(body).encode(),
                {"Content-Type": "application/json", "X-Sensor": sensor_id, "X-PIN": str(pin)}, timeout)


def send_opensensemap(base_url: str, box_id: str, token: str | None, measurements: list[dict],
                      timeout: float = 10.0) -> Outcome:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = token  # the box's access token, as openSenseMap expects it
    return post(f"{base_url}/boxes/{box_id}/data", json.dumps(measurements).encode(), headers, timeout)
