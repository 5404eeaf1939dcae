"""The cellular link: MQTT through a SIMCom modem's TCP socket (SIM800 on 2G/GPRS, SIM7080G on LTE-M /
NB-IoT: France's operators switch 2G off, so new kits should take the SIM7080G).

connect(): the modem answers (AT), its SIM is ready, it is registered on the network (waiting up to
cellular.register_timeout_s while it searches; "denied" fails at once), the packet-data bearer is up
on cellular.apn, a TCP connection is open to the broker; then the MQTT session every MQTT link shares
(mqtt_link.py: offline last will, QoS 1 uplinks acknowledged by PUBACK before the spool lets them go,
retained status, downlink config).

Both modems carry the firmware's own MQTT client over a TCP socket adapter (_ModemStream) rather than
the SIM7080G's built-in MQTT (AT+SMCONF/SMCONN/SMPUB): one MQTT implementation, tested against real
brokers, gives every link the same will, keepalive and QoS 1 semantics, and the spool's "acknowledged"
means a PUBACK the firmware itself received for that packet id. The built-in client hides the PUBACK
behind its own OK and hands subscribed messages over as quoted text in a URC; the SIM800 has no
built-in MQTT at all, so the adapter is needed anyway.

The status gets "cellular": {"modem", "rssi_dbm" (AT+CSQ, TS 27.007 8.5), "registration" (home,
roaming, searching, denied, not_searching, unknown)}.

Config (device.json): "transport": {"link": "cellular"}, "cellular": {"modem": "sim7080g" | "sim800",
"uart": 1, "tx": 17, "rx": 16, "baudrate": 115200, "apn": "...", "apn_user": "", "apn_password": "",
"register_timeout_s": 120}.
"""
import asyncio
import time

from micropython import const

from drivers.at_modem import REG_NAMES, ModemError, ModemNotRegistered
from transport.mqtt_link import LinkError, MqttLink, backoff_ms  # noqa: F401  (this link's API too)

_MODEMS = {"sim800": ("drivers.sim800", "Sim800"), "sim7080g": ("drivers.sim7080g", "Sim7080G")}
_POLL_MS = const(20)  # how often an idle connection asks the modem for URCs (data, CLOSED)
_RX = const(256)
_TX = const(1024)


class _ModemStream:
    """The reader and writer asyncio streams the MQTT client expects, over the modem's TCP socket.

    Received bytes land in a preallocated buffer (one AT read brings up to its size); writes are
    gathered in a preallocated buffer and sent by drain() in AT+CIPSEND/AT+CASEND chunks."""

    def __init__(self, modem):
        self._m = modem
        self._rx = bytearray(_RX)
        self._rs = 0
        self._re = 0
        self._tx = bytearray(min(_TX, modem.max_send))
        self._tmv = memoryview(self._tx)
        self._chunks = []

    def reset(self):
        self._rs = self._re = 0
        self._chunks = []

    async def _refill(self):
        m = self._m
        while True:
            if m.readable:
                try:
                    n = await m.read_into(self._rx)
                except ModemError as e:
                    raise OSError("modem read: %s" % (e,))
                if n:
                    self._rs, self._re = 0, n
                    return
            elif m.closed:
                raise EOFError("connection closed")
            else:
                await asyncio.sleep_ms(_POLL_MS)
            await m.poll()

    async def readexactly(self, n):
        if self._rs == self._re:
            await self._refill()
        if self._re - self._rs >= n:  # the usual case: one copy out of the receive buffer
            self._rs += n
            return bytes(memoryview(self._rx)[self._rs - n:self._rs])
        out = bytearray(n)
        got = 0
        while got < n:
            if self._rs == self._re:
                await self._refill()
            k = min(n - got, self._re - self._rs)
            out[got:got + k] = memoryview(self._rx)[self._rs:self._rs + k]
            self._rs += k
            got += k
        return bytes(out)

    def write(self, data):
        self._chunks.append(data)

    async def drain(self):
        chunks = self._chunks
        self._chunks = []
        tx, pos, cap = self._tmv, 0, len(self._tx)
        try:
            for c in chunks:
                mv = memoryview(c)
                i = 0
                while i < len(mv):
                    k = min(cap - pos, len(mv) - i)
                    tx[pos:pos + k] = mv[i:i + k]
                    pos += k
                    i += k
                    if pos == cap:
                        await self._m.write(tx)
                        pos = 0
            if pos:
                await self._m.write(tx[:pos])
        except ModemError as e:
            raise OSError("modem send: %s" % (e,))

    def close(self):
        pass

    async def wait_closed(self):
        try:
            await self._m.close()
        except ModemError:
            pass


class CellularMqttLink(MqttLink):
    def __init__(self, cfg, device, kit, firmware):
        import machine

        c = cfg.get("cellular") or {}
        self.modem_name = c.get("modem", "sim7080g")
        try:
            module, cls = _MODEMS[self.modem_name]
        except KeyError:
            raise ValueError("cellular.modem %r unknown; known: %s" % (self.modem_name, ", ".join(sorted(_MODEMS))))
        from drivers.at_modem import ATModem

        uart = machine.UART(c.get("uart", 1), baudrate=c.get("baudrate", 115200),
                            tx=machine.Pin(c.get("tx", 17)), rx=machine.Pin(c.get("rx", 16)), timeout=0)
        self._modem = getattr(__import__(module, None, None, (cls,)), cls)(ATModem(uart))
        self._apn = (c.get("apn", ""), c.get("apn_user", ""), c.get("apn_password", ""))
        self._reg_timeout_ms = int(c.get("register_timeout_s", 120) * 1000)
        self._stream = _ModemStream(self._modem)
        self.rssi_dbm = None
        self.registration = None  # <stat>, TS 27.007 7.2
        super().__init__(cfg, device, kit, firmware, open_connection=self._open)

    async def _open(self, host, port):
        return self._stream, self._stream  # the TCP connection was opened by connect()

    @property
    def connected(self):
        return self._client.connected and not self._modem.closed

    async def _registered(self):
        m = self._modem
        t0 = time.ticks_ms()
        while True:
            stat = self.registration = await m.registration()
            if stat == 1 or stat == 5:
                return
            if stat == 3 or time.ticks_diff(time.ticks_ms(), t0) >= self._reg_timeout_ms:
                raise ModemNotRegistered(b"registration", stat)
            await asyncio.sleep_ms(500)

    async def connect(self):
        """Modem, registration, bearer, TCP to the broker, then the MQTT session."""
        if self._client.connected:  # the connection dropped under a live session
            await self._client.abort()
        m = self._modem
        try:
            await m.start()
            await self._registered()
            self.rssi_dbm = await m.signal()
            await m.bearer_up(*self._apn)
            mq = self.cfg["mqtt"]
            await m.open(mq["host"], mq.get("port", 1883))
        except ModemNotRegistered as e:
            raise LinkError("cellular %s: not registered (%s)" % (m.name, REG_NAMES[e.stat] if 0 <= e.stat < 6 else e.stat))
        except ModemError as e:
            raise LinkError("cellular %s: %s %s" % (m.name, e.__class__.__name__, e.args))
        self._stream.reset()
        await self._session_up()

    async def _status_extra(self, s):
        m = self._modem
        try:
            self.rssi_dbm = await m.signal()
            self.registration = await m.registration()
        except ModemError:
            pass  # report what was last known
        r = self.registration
        s["cellular"] = {"modem": m.name, "rssi_dbm": self.rssi_dbm,
                         "registration": REG_NAMES[r] if r is not None and 0 <= r < 6 else None}

    async def network_time(self):
        """The cellular network's time (Unix seconds UTC, from the modem's clock: drivers/at_modem.py
        network_time), or None while it has given none; the app sets the ESP32's clock from it (NTP
        cannot: the ESP32's own IP stack has no route through the modem)."""
        try:
            return await self._modem.network_time()
        except ModemError:
            return None
