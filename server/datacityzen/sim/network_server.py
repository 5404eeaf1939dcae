"""The simulator's LoRaWAN network: gateway and network server in one, on the runner side (CPython).

Each simulated LoRa-E5 (sim/hw/lora_e5_model.py, inside a device's MicroPython process) connects to
this TCP listener and writes one JSON line per frame it puts on air. For each uplink the network server
posts a The Things Stack v3 uplink webhook to the DataCityZen server (`POST /api/v1/ingest/ttn`,
`Authorization: Bearer <secret>`), as a TTN application with a webhook integration would, and answers
the modem {"ack": true, "rssi", "snr"} once the server accepted it (2xx); {"ack": false} otherwise, so
the device keeps the readings and sends them again.

A frame carrying the DeviceTimeReq MAC command ("mac": ["DeviceTimeReq"]) gets {"device_time": <GPS
seconds>} in its answer (DeviceTimeAns, LoRaWAN 1.0.3 section 5.9: seconds since the GPS epoch
1980-01-06 00:00:00 UTC, which counts leap seconds: GPS - UTC = 18 s since 2017-01-01). A frame without
application payload (no FPort: MAC commands only) is not posted to the application, as a network server
keeps MAC-only frames to itself.

`on_uplink(device, n, before)`: as for the Wi-Fi relay (relay.py). Called for the device's n-th
uplink before the webhook; if it returns True the ACK is withheld, and it is called again with
before=False once the server has the uplink (the runner then powers the device off: a reboot between
the network server's receipt and the device's ACK).
"""
from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
from datetime import datetime, timezone

import httpx

GPS_EPOCH_UNIX = 315964800  # 1980-01-06 00:00:00 UTC
GPS_MINUS_UTC_S = 18  # leap seconds since the GPS epoch, unchanged since 2017-01-01 (IERS Bulletin C)


def gps_now(now: datetime) -> float:
    """The GPS time (seconds since the GPS epoch) of the UTC instant `now`."""
    return now.timestamp() - GPS_EPOCH_UNIX + GPS_MINUS_UTC_S

# EU868 data rate -> spreading factor (RP002-1.0.3, EU863-870 DataRate table).
_SF_OF_DR = (12, 11, 10, 9, 8, 7)
_CHANNELS = (868100000, 868300000, 868500000)  # EU868 default channels (RP002, EU863-870)


def dev_eui_of(device: str) -> str:
    """A stable DevEUI for a simulated device: Seeed's OUI 2C:F7:F1 and 5 bytes of a hash of its id."""
    return "2CF7F1" + hashlib.sha1(device.encode()).hexdigest()[:10].upper()


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ttn_uplink(device: str, dev_eui: str, frame: dict, rssi: int, snr: float, now: datetime) -> dict:
    """A The Things Stack v3 uplink message as its webhooks post it (only the fields we set)."""
    dr = int(frame.get("dr", 5))
    sf = _SF_OF_DR[dr] if 0 <= dr < len(_SF_OF_DR) else 7
    payload = bytes.fromhex(frame["hex"])
    gw_time = _iso(now)
    return {
        "end_device_ids": {"device_id": device, "application_ids": {"application_id": "datacityzen-sim"},
                           "dev_eui": dev_eui, "dev_addr": frame.get("dev_addr") or "00000000"},
        "correlation_ids": [f"as:up:sim-{dev_eui}-{frame.get('fcnt', 0)}"],
        "received_at": gw_time,
        "uplink_message": {
            "f_port": int(frame.get("fport", 1)),
            "f_cnt": int(frame.get("fcnt", 0)),
            "frm_payload": base64.b64encode(payload).decode(),
            "rx_metadata": [{"gateway_ids": {"gateway_id": "sim-gateway-1", "eui": "B827EBFFFE000001"},
                             "time": gw_time, "rssi": rssi, "channel_rssi": rssi, "snr": snr}],
            "settings": {"data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": sf,
                                                "coding_rate": "4/5"}},
                         "frequency": str(_CHANNELS[int(frame.get("fcnt", 0)) % 3])},
            "received_at": gw_time,
            "confirmed": bool(frame.get("confirmed")),
        },
    }


class NetworkServer:
    def __init__(self, server_url: str, secret: str | None):
        self.server_url = server_url.rstrip("/")
        self.secret = secret
        self.devices: dict[str, tuple[str, object]] = {}  # dev_eui -> (device id, on_uplink)
        self.uplinks: dict[str, int] = {}
        self.posted = 0
        self.refused: list[str] = []  # the server's answers other than 2xx
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._stopped = threading.Event()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        self._http = httpx.Client(base_url=self.server_url, headers=headers, timeout=15)

    def register(self, dev_eui: str, device: str, on_uplink=None) -> None:
        self.devices[dev_eui.upper()] = (device, on_uplink)

    def start(self) -> "NetworkServer":
        threading.Thread(target=self._accept_loop, daemon=True, name=f"lorawan-ns-{self.port}").start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.close()
            except OSError:
                pass
        self._http.close()

    def _accept_loop(self):
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket):
        buf = b""
        try:
            while True:
                data = conn.recv(4096)
                if not data:
                    break
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    try:
                        frame = json.loads(line)
                    except ValueError:
                        continue  # radio noise
                    answer = self._frame(frame)
                    if answer is not None:
                        conn.sendall((json.dumps(answer) + "\n").encode())
        except OSError:
            pass
        finally:
            conn.close()

    def _frame(self, frame: dict) -> dict | None:
        if frame.get("op") != "up":
            return None
        eui = str(frame.get("dev_eui", "")).upper()
        known = self.devices.get(eui)
        if known is None:
            return {"ack": False}  # a device the network does not know: no session, no ACK
        device, on_uplink = known
        answer = {}
        if "DeviceTimeReq" in (frame.get("mac") or ()):
            answer["device_time"] = round(gps_now(datetime.now(timezone.utc)), 3)
        if not frame.get("hex"):  # MAC commands only: nothing for the application
            if frame.get("confirmed"):
                answer.update(ack=True, rssi=-95, snr=6.0)
            return answer or None
        n = self.uplinks.get(device, 0) + 1
        self.uplinks[device] = n
        withhold = bool(on_uplink is not None and on_uplink(n, before=True))
        rssi, snr = -90 - (n % 20), 7.5 - (n % 5)
        ok = self._post(ttn_uplink(device, eui, frame, rssi, snr, datetime.now(timezone.utc)))
        if withhold:
            on_uplink(n, before=False)
            return None
        if not frame.get("confirmed"):
            return answer or None
        answer.update(ack=ok, rssi=rssi, snr=snr)
        return answer

    def _post(self, body: dict) -> bool:
        try:
            r = self._http.post("/api/v1/ingest/ttn", json=body)
        except httpx.HTTPError as exc:
            self.refused.append(f"unreachable: {exc}")
            return False
        self.posted += 1
        if 200 <= r.status_code < 300:
            return True
        self.refused.append(f"{r.status_code}: {r.text[:200]}")
        return False
