"""The Wi-Fi + MQTT link: Wi-Fi station up, MQTT session with an offline last will, wire v1 topics.

The link connects once per connect() call; the app's loop reconnects after a failure, waiting
backoff_ms(attempt) between attempts (attempt = consecutive failures, reset to 0 after a success).
With cfg["mqtt"]["tls"] = {"ca": "<PEM file on flash>"} the connection is TLS and the broker's
certificate must verify against that CA bundle; a refused certificate is a LinkError that says so.
`network_absent_ms()` tells the app how long the configured network has been missing (the setup
portal opens after cfg["wifi"]["portal_after_s"]).
"""
import asyncio
import random
import time

from micropython import const

from transport import wire
from transport.mqtt import MQTTClient, MQTTError

# const(): private integers vanish from the module dict (compile-time constants).
_WIFI_TIMEOUT_MS = const(30000)
_BACKOFF_BASE_MS = const(1000)
_BACKOFF_CAP_MS = const(300000)  # 5 min: a broker outage must not become a reconnect storm


class LinkError(Exception):
    """The link is down or could not come up (Wi-Fi or MQTT); the message says which."""


# Ports whose time.time() counts from 2000-01-01 need this added to give Unix time (as in app.py).
_EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0


def backoff_ms(attempt, base_ms=_BACKOFF_BASE_MS, cap_ms=_BACKOFF_CAP_MS):
    """Delay before reconnect attempt `attempt` (0, 1, ...): "full jitter", uniform in
    [0, min(cap, base * 2**attempt)], so a city of kits rebooting together after a power cut spreads
    out instead of hammering the broker in step (AWS Architecture Blog, "Exponential Backoff And
    Jitter", 2015)."""
    ceiling = cap_ms if attempt >= 20 else min(cap_ms, base_ms << attempt)
    return random.getrandbits(30) % (ceiling + 1)


def _alloc_buf(size):
    import gc

    while size >= 1024:
        gc.collect()
        try:
            return bytearray(size)
        except MemoryError:
            size //= 2
    return None  # encode_batch then allocates per uplink, at most _FALLBACK_PAYLOAD bytes


# Payload limit when no buffer could be allocated: a heap that refused 1 KB must not be asked for
# wire.MAX_PAYLOAD (16 KB, plus its copy as bytes) per uplink; small uplinks still get through.
_FALLBACK_PAYLOAD = const(1024)
_STAT_NO_AP_FOUND = const(201)  # network.STAT_NO_AP_FOUND on the ESP32 port


def _tls_context(tls):
    from transport import tls as _tls

    try:
        return _tls.context(tls)
    except ValueError as e:
        raise LinkError(str(e))


async def _sleep_ms(ms):
    if hasattr(asyncio, "sleep_ms"):
        await asyncio.sleep_ms(ms)
    else:
        await asyncio.sleep(ms / 1000)


class WifiMqttLink:
    def __init__(self, cfg, device, kit, firmware):
        self.cfg = cfg
        self.device = device
        self.kit = kit
        self.firmware = firmware
        self.on_config = None  # callable(dict) for each valid downlink config
        self.bad_configs = 0
        self._wlan = None
        self._absent_since = None  # ticks_ms when the network was first seen missing
        m = cfg["mqtt"]
        tls = m.get("tls")
        self.backoff_cap_ms = int(m.get("backoff_cap_s", 300) * 1000)
        self._client = MQTTClient(
            device, m["host"], m.get("port", 1883),
            username=m.get("username") or None, password=m.get("password") or None,
            keepalive=m.get("keepalive_s", 60), clean_session=True,
            will=(wire.topic_status(device), wire.offline_will(device), 1, True),
            on_message=self._on_message,
            ssl=_tls_context(tls) if tls is not None else None,
            server_hostname=tls.get("server_hostname") if isinstance(tls, dict) else None,
        )
        # One payload buffer for the life of the link (see wire.encode_batch), allocated now, before
        # the connection's streams and tasks fragment the heap (at the first send, a heap with 18 KB
        # free could no longer give 1 KB in one piece): mqtt.payload_bytes trades RAM for fewer,
        # larger uplinks; smaller if the heap is short.
        self._buf = _alloc_buf(min(m.get("payload_bytes", 4096), wire.MAX_PAYLOAD))
        self._t_up = wire.topic_up(device)
        self._t_status = wire.topic_status(device)
        self._t_config = wire.topic_config(device)

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
        try:
            await self._client.connect()
            await self._client.subscribe(self._t_config, 1)
            await self.publish_status({"state": "online", "kit": self.kit, "firmware": self.firmware})
        except MQTTError as e:
            await self._client.disconnect()
            raise LinkError("MQTT %s:%s: %s" % (self._client.host, self._client.port, e))

    async def send(self, readings):
        """Publish `readings` (oldest first) as uplinks (QoS 1); return after the last PUBACK.

        Usually one uplink; more when the batch does not fit the payload buffer (the caller may size
        batches with wire.max_batch). LinkError on failure: some uplinks may have arrived, which is
        harmless since the server stores each (device, seq) once; ack in the spool only after success.
        """
        i = 0
        while i < len(readings):
            payload, n = wire.encode_batch(self.device, self.kit, self.firmware,
                                           readings[i:] if i else readings,
                                           _FALLBACK_PAYLOAD if self._buf is None else wire.MAX_PAYLOAD,
                                           self._buf, int(time.time()) + _EPOCH_OFFSET)  # sent: the device clock
            await self._publish(self._t_up, payload, False)
            i += n

    async def publish_status(self, status):
        """Publish a retained status; "device" and "state" ("online" by default) are filled in."""
        s = dict(status)
        s["device"] = self.device
        if "state" not in s:
            s["state"] = "online"
        await self._publish(self._t_status, wire.encode_status(s), True)

    async def _publish(self, topic, payload, retain):
        if not self.connected:
            raise LinkError("link down")
        try:
            await self._client.publish(topic, payload, 1, retain)
        except MQTTError as e:
            raise LinkError("MQTT publish on %s: %s" % (topic, e))

    def _on_message(self, topic, payload, retained):
        if topic != self._t_config:
            return
        try:
            cfg = wire.decode_config(payload)
        except ValueError as e:
            self.bad_configs += 1
            print("link: config ignored:", e)
            return
        if self.on_config is not None:
            self.on_config(cfg)

    async def close(self):
        """Publish the offline status (a clean DISCONNECT makes the broker discard the will), then
        disconnect. Best effort; Wi-Fi is left up."""
        if self._client.connected:
            try:
                await self._client.publish(self._t_status, wire.offline_will(self.device), 1, True)
            except MQTTError:
                pass
        await self._client.disconnect()
