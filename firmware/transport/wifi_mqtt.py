"""The Wi-Fi + MQTT link: Wi-Fi station up, then the MQTT session every MQTT link shares (mqtt_link.py:
offline last will, wire v1 topics, QoS 1 uplinks, downlink config).

The link connects once per connect() call; the app's loop reconnects after a failure, waiting
backoff_ms(attempt) between attempts (attempt = consecutive failures, reset to 0 after a success).
With cfg["mqtt"]["tls"] = {"ca": "<PEM file on flash>"} the connection is TLS and the broker's
certificate must verify against that CA bundle; a refused certificate is a LinkError that says so.
`network_absent_ms()` tells the app how long the configured network has been missing (the setup
portal opens after cfg["wifi"]["portal_after_s"]).
"""
import asyncio
import time

from micropython import const

from transport.mqtt_link import LinkError, MqttLink, backoff_ms  # noqa: F401  (both are this module's API too)

# const(): private integers vanish from the module dict (compile-time constants).
_WIFI_TIMEOUT_MS = const(30000)
_STAT_NO_AP_FOUND = const(201)  # network.STAT_NO_AP_FOUND on the ESP32 port


if hasattr(asyncio, "sleep_ms"):
    _sleep_ms = asyncio.sleep_ms  # MicroPython: no function of our own in the heap
else:  # CPython fallback
    async def _sleep_ms(ms):
        await asyncio.sleep(ms / 1000)


class WifiMqttLink(MqttLink):
    def __init__(self, cfg, device, kit, firmware):
        self._wlan = None
        self._absent_since = None  # ticks_ms when the network was first seen missing
        super().__init__(cfg, device, kit, firmware)

    @property
    def connected(self):
        if not self._client.connected:
            return False
        return self._wlan is None or self._wlan.isconnected()

    async def _wifi_up(self):
        try:
            import network
        except ImportError:
            return  # a host with its own network (unix port, CPython): nothing to bring up
        if self._wlan is None:
            self._wlan = network.WLAN(network.STA_IF)
        w = self._wlan
        w.active(True)
        if w.isconnected():
            return
        wifi = self.cfg["wifi"]
        w.connect(wifi["ssid"], wifi["password"])
        waited = 0
        while not w.isconnected():
            if w.status() == _STAT_NO_AP_FOUND:
                if self._absent_since is None:
                    self._absent_since = time.ticks_ms()
                raise LinkError("Wi-Fi: network %r not found" % wifi["ssid"])
            if waited >= _WIFI_TIMEOUT_MS:
                try:
                    w.disconnect()
                except OSError:
                    pass
                raise LinkError("Wi-Fi: no connection to %r after %d s" % (wifi["ssid"], waited // 1000))
            await _sleep_ms(200)
            waited += 200
        self._absent_since = None

    def network_absent_ms(self):
        """How long the configured Wi-Fi network has been missing (0 when seen or connected)."""
        if self._absent_since is None:
            return 0
        return time.ticks_diff(time.ticks_ms(), self._absent_since)

    async def connect(self):
        """Wi-Fi, MQTT (will = offline status), subscribe to our config, publish online status."""
        if self._client.connected:  # the Wi-Fi went away under a live session: drop it
            await self._client.abort()
        await self._wifi_up()
        await self._session_up()
