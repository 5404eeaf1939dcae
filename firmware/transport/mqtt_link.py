"""What every MQTT link shares (Wi-Fi, cellular): the session with its offline last will, wire v1
topics, QoS 1 uplinks, retained status, downlink config, and the reconnect back-off.

A link subclasses MqttLink and brings its network up before `_session_up()`; `open_connection`
(a coroutine (host, port) -> (reader, writer)) carries MQTT over something other than the host's
sockets, e.g. a modem's TCP socket (cellular_mqtt.py).
"""
import random
import time

from micropython import const

from transport import wire
from transport.mqtt import MQTTClient, MQTTError

_BACKOFF_BASE_MS = const(1000)
_BACKOFF_CAP_MS = const(300000)  # 5 min: a broker outage must not become a reconnect storm


# Ports whose time.time() counts from 2000-01-01 need this added to give Unix time (as in app.py).
_EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0


class LinkError(Exception):
    """The link is down or could not come up (network or MQTT); the message says which."""


def backoff_ms(attempt, base_ms=_BACKOFF_BASE_MS, cap_ms=_BACKOFF_CAP_MS):
    """Delay before reconnect attempt `attempt` (0, 1, ...): "full jitter", uniform in
    [0, min(cap, base * 2**attempt)], so a city of kits rebooting together after a power cut spreads
    out instead of hammering the broker in step (AWS Architecture Blog, "Exponential Backoff And
    Jitter", 2015)."""
    ceiling = cap_ms if attempt >= 20 else min(cap_ms, base_ms << attempt)
    return random.getrandbits(30) % (ceiling + 1)


class MqttLink:
    def __init__(self, cfg, device, kit, firmware, open_connection=None):
        self.cfg = cfg
        self.device = device
        self.kit = kit
        self.firmware = firmware
        self.on_config = None  # callable(dict) for each valid downlink config
        self.bad_configs = 0
        m = cfg["mqtt"]
        tls = m.get("tls")
        ssl = None
        if tls is not None:  # tls.py is loaded only by a link that uses TLS
            from transport import tls as tls_settings

            try:
                ssl = tls_settings.context(tls)
            except ValueError as e:
                raise LinkError(str(e))
        self.backoff_cap_ms = int(m.get("backoff_cap_s", 300) * 1000)
        # Topics are built where they are used (once per uplink at most), not kept: 64 bytes each.
        self._client = MQTTClient(
            device, m["host"], m.get("port", 1883),
            username=m.get("username") or None, password=m.get("password") or None,
            keepalive=m.get("keepalive_s", 60), clean_session=True,
            will=(wire.topic_status(device), wire.offline_will(device), 1, True),
            on_message=self._on_message,
            ssl=ssl,
            server_hostname=tls.get("server_hostname") if isinstance(tls, dict) else None,
            open_connection=open_connection,
        )
        # An uplink is written a reading at a time as it is sent (wire.batch_pieces), never held in
        # one piece: no payload buffer (it was 2-4 KB for the life of the link). mqtt.payload_bytes
        # still bounds an uplink, for the broker's sake.
        self._payload_limit = min(m.get("payload_bytes", 4096), wire.MAX_PAYLOAD)

    @property
    def connected(self):
        return self._client.connected

    async def _session_up(self):
        """MQTT (will = offline status), subscribe to our config, publish online status."""
        try:
            await self._client.connect()
            await self._client.subscribe(wire.topic_config(self.device), 1)
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
            # sent: the device clock's Unix time
            head = wire.uplink_head(self.device, self.kit, self.firmware, int(time.time()) + _EPOCH_OFFSET)
            n, size = wire.fit_batch(head, readings, i, self._payload_limit)
            await self._publish(wire.topic_up(self.device), wire.batch_pieces(head, readings, i, n), False, size)
            i += n

    async def _status_extra(self, s):
        """A link's own fields in the status (e.g. the modem's signal); none by default."""

    async def publish_status(self, status):
        """Publish a retained status; "device" and "state" ("online" by default) are filled in."""
        s = dict(status)
        s["device"] = self.device
        if "state" not in s:
            s["state"] = "online"
        await self._status_extra(s)
        await self._publish(wire.topic_status(self.device), wire.encode_status(s), True)

    async def _publish(self, topic, payload, retain, size=None):
        if not self.connected:
            raise LinkError("link down")
        try:
            await self._client.publish(topic, payload, 1, retain, size)
        except MQTTError as e:
            raise LinkError("MQTT publish on %s: %s" % (topic, e))

    def _on_message(self, topic, payload, retained):
        if topic != wire.topic_config(self.device):
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
        disconnect. Best effort; the network is left up."""
        if self._client.connected:
            try:
                await self._client.publish(wire.topic_status(self.device), wire.offline_will(self.device), 1, True)
            except MQTTError:
                pass
        await self._client.disconnect()
