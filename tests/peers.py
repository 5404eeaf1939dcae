"""Local receivers that check the peers' documented upload formats strictly, for forwarding tests.

- Sensor.Community: `POST /v1/push-sensor-data/`, JSON, `X-Sensor: esp8266-<id>|esp32-<id>`, `X-PIN` one of
  the airrohr pins, body `{"software_version", "sensordatavalues": [{"value_type", "value": "<string>"}]}`
  with value types that belong to the pin.
- openSenseMap: `POST /boxes/<box id>/data`, JSON array of at most 2,500 `{"sensor", "value", "createdAt"}`
  (sensor ids of the box, numeric values, RFC 3339 UTC times), `Authorization` equal to the box token;
  answers 201 "Measurements saved in box".
`fail_next` makes the next N requests answer 503 (a peer under maintenance).
"""
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SC_PIN_TYPES = {1: {"P0", "P1", "P2", "P4"}, 3: {"temperature", "pressure"}, 7: {"temperature", "humidity"},
                11: {"temperature", "humidity", "pressure"}, 15: {"noise_LAeq", "noise_LA_min", "noise_LA_max"}}
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z")


class Peer:
    def __init__(self, check):
        self.accepted, self.rejected, self.fail_next = [], [], 0
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if peer.fail_next > 0:
                    peer.fail_next -= 1
                    return self._answer(503, b"maintenance")
                problem = check(self.path, self.headers, body)
                if problem:
                    peer.rejected.append(problem)
                    return self._answer(400, problem.encode())
                peer.accepted.append((self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(body)))
                self._answer(201, b"Measurements saved in box")

            def _answer(self, code, text):
                self.send_response(code)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def check_sensor_community(path, headers, body):
    if path != "/v1/push-sensor-data/":
        return f"path {path}"
    if headers.get("Content-Type") != "application/json":
        return "content type"
    if not re.fullmatch(r"(esp8266|esp32)-\d+", headers.get("X-Sensor", "")):
        return "X-Sensor"
    pin = headers.get("X-PIN", "")
    if not pin.isdigit() or int(pin) not in SC_PIN_TYPES:
        return "X-PIN"
    doc = json.loads(body)
    if set(doc) != {"software_version", "sensordatavalues"} or not doc["sensordatavalues"]:
        return "body keys"
    for item in doc["sensordatavalues"]:
        if set(item) != {"value_type", "value"} or not isinstance(item["value"], str):
            return "value must be a string"
        if item["value_type"] not in SC_PIN_TYPES[int(pin)]:
            return f"{item['value_type']} on pin {pin}"
        float(item["value"])
    return None


def osem_checker(box_id, token, sensor_ids):
    def check(path, headers, body):
        if path != f"/boxes/{box_id}/data":
            return f"path {path}"
        if headers.get("Authorization") != token:
            return "Box access token not valid!"
        if not headers.get("Content-Type", "").startswith("application/json"):
            return "content type"
        doc = json.loads(body)
        if not isinstance(doc, list) or not 1 <= len(doc) <= 2500:
            return "array of 1..2500"
        for m in doc:
            if m.get("sensor") not in sensor_ids:
                return "Invalid sensor id"
            if not re.fullmatch(r"-?\d+(\.\d+)?", str(m.get("value"))):
                return "Invalid value"
            if not RFC3339.fullmatch(m.get("createdAt", "")):
                return "createdAt"
        return None
    return check
