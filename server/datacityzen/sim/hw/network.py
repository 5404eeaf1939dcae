"""Simulated ESP32 `network` module: a WLAN that joins any network quickly.

The simulated device really talks over the host's loopback (the unix port has real sockets), so the
interface only has to behave: connect() moves to STAT_CONNECTING, then STAT_GOT_IP after
"wifi": {"connect_s": 0.2} of real time. "wifi": {"fail": "no_ap" | "wrong_password"} in sim_hw.json
makes every connection fail with that status, to exercise the firmware's retry path.
"wifi": {"networks": [[ssid, rssi], ...]} is what scan() finds (default: the simulator's network and
two neighbours). During an "outage" (outage.py) the access point is gone: a connected station drops
to STAT_NO_AP_FOUND, connecting fails with it and scan() no longer lists it.
The access point interface (AP_IF) reports the ESP32's default soft-AP address, 192.168.4.1.
Status and interface numbers are the ESP32 port's.
"""
import time

import machine
import outage

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_BEACON_TIMEOUT = 200
STAT_ASSOC_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204
_FAILS = {"no_ap": STAT_NO_AP_FOUND, "wrong_password": STAT_WRONG_PASSWORD}

_hostname = "dcz-sim"


def hostname(name=None):
    global _hostname
    if name is None:
        return _hostname
    _hostname = name


def _wifi():
    return machine.config().get("wifi") or {}


class WLAN:
    def __init__(self, interface=STA_IF):
        self.interface = interface
        self._active = interface == AP_IF
        self._ssid = None
        self._since = None
        self._status = STAT_IDLE

    def active(self, state=None):
        if state is None:
            return self._active
        self._active = bool(state)
        if not state:
            self.disconnect()

    def connect(self, ssid=None, key=None, **kw):
        if not self._active:
            raise OSError("Wifi Not Started")
        self._ssid = ssid
        self._since = time.time()
        self._status = STAT_CONNECTING

    def disconnect(self):
        self._since = None
        self._status = STAT_IDLE

    def status(self, param=None):
        if param == "rssi":
            return -61
        if self._status == STAT_GOT_IP and outage.active():
            self._status = STAT_NO_AP_FOUND  # the access point vanished
        if self._status == STAT_CONNECTING:
            fail = _wifi().get("fail")
            if time.time() - self._since >= float(_wifi().get("connect_s", 0.2)):
                if outage.active():
                    self._status = STAT_NO_AP_FOUND
                else:
                    self._status = _FAILS.get(fail, STAT_GOT_IP) if fail else STAT_GOT_IP
        return self._status

    def isconnected(self):
        if self.interface == AP_IF:
            return self._active
        return self.status() == STAT_GOT_IP

    def ifconfig(self, config=None):
        if self.interface == AP_IF:
            return ("192.168.4.1", "255.255.255.0", "192.168.4.1", "192.168.4.1")
        if self.isconnected():
            return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")
        return ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")

    def config(self, *args, **kw):
        if args:
            if args[0] == "mac":
                return machine.unique_id()
            if args[0] in ("essid", "ssid"):
                return self._ssid or ""
            if args[0] == "hostname":
                return _hostname
        return None

    def scan(self):
        """(ssid, bssid, channel, RSSI, security, hidden) tuples, as the ESP32 port returns them."""
        if not self._active:
            raise OSError("Wifi Not Started")
        nets = _wifi().get("networks") or [["datacityzen-sim", -61], ["Livebox-2F4A", -78], ["FreeWifi", -85]]
        out = []
        for i, (ssid, rssi) in enumerate(nets):
            if i == 0 and outage.active():
                continue  # the simulator's own network is the one that vanishes
            out.append((ssid.encode(), bytes((0x24, 0x0A, 0xC4, 0, 0, i)), 1 + i * 5, rssi, 3, False))
        return out
