"""The LoRaWAN link: a Seeed LoRa-E5 modem (drivers/lora_e5.py), OTAA join with back-off, batches of
spooled readings in the binary payload of transport/lorawan_wire.py, within the network's budgets.

Exactly once: every uplink is a confirmed uplink (AT+CMSGHEX); send() returns only when the network
server's ACK came back, and the app acknowledges the readings in the spool only then. A lost uplink or
a lost ACK leaves them in the spool: they travel again and the server stores each (device, seq) once.
The choice and its cost (an ACK is a downlink: The Things Network allows 10 a day) are argued in
docs/wire-format.md, "Acknowledgements".

Budgets (transport/airtime.py), configurable in cfg["lorawan"]:
- airtime_ms_per_day (default 30000: TTN's fair-use policy, 30 s of uplink airtime per device per day);
- confirmed_per_day (default 10: TTN's fair-use limit of 10 downlinks a day, ACKs included).
`ready()` (awaited by the app before it takes a batch from the spool) waits until both allow a full
uplink at the current data rate, so readings pile up meanwhile and leave in as few uplinks as possible.
None for either budget: no limit (a private network server).

Interface (transport/links.py): connect() joins (once: the session survives close()), send(readings)
returns how many of them (a prefix) the network acknowledged, publish_status() does nothing (a status
would cost airtime; the server sees the device in its readings), no downlink config.

The clock: LoRaWAN carries no IP, so no NTP; network_time() asks the network with the DeviceTimeReq MAC
command (LoRaWAN 1.0.3 section 5.9; drivers/lora_e5.py) on an empty unconfirmed uplink (13 bytes on air,
counted in the airtime budget) and reads the modem's clock once the DeviceTimeAns has set it. The app
asks until it has the time, less and less often. The DeviceTimeAns is a downlink that, like the Join
Accept, the downlink budget does not count: once a boot (a modem whose clock is already set is not
asked again), and counting it would hold the first readings of a TTN kit back 2.7 hours.
"""
import random
import time

import asyncio
import log
from drivers.lora_e5 import Busy, LoRaE5, LoRaE5Error, NotJoined
from transport import airtime
from transport.lorawan_wire import FIELDS, Encoder, layout_for

_DEFAULTS = {
    # ESP32 UART1 on free pins (the kits use UART2, I2C 21/22 and I2S 25/32/33); the modem's default
    # line is 9600 8N1 (LoRa-E5 AT Command Specification, 2.1).
    "uart": {"id": 1, "tx": 26, "rx": 27, "baudrate": 9600},
    "app_key": None,  # 32 hex digits from the network server; None: keys already in the modem
    "join_eui": None,  # 16 hex digits; None: the modem's AppEui
    "dr": 5,  # EU868 DR5 = SF7: shortest airtime; ADR moves it when the link is poor
    "adr": True,
    "airtime_ms_per_day": 30000,
    "confirmed_per_day": 10,
    "join_backoff_cap_s": 3600,  # the app's join retries back off up to an hour
    "retry_backoff_cap_s": 900,  # after an uplink without ACK
    "rejoin_after_failures": 8,  # uplinks in a row without ACK: the session may be gone, join again
}
_MIN_BURST_US = 2800000  # the longest uplink, 51 bytes at SF12: 2.79 s (airtime.py)


class LinkError(Exception):
    """The modem or the network failed; the message says which."""


async def _sleep_ms(ms):
    if hasattr(asyncio, "sleep_ms"):
        await asyncio.sleep_ms(ms)
    else:
        await asyncio.sleep(ms / 1000)


def backoff_ms(attempt, cap_ms=3600000, base_ms=2000):
    """Full-jitter exponential back-off (as wifi_mqtt.backoff_ms, without loading the Wi-Fi and MQTT
    modules): uniform in [0, min(cap, base * 2**attempt)]. The app uses it between join attempts."""
    ceiling = cap_ms if attempt >= 20 else min(cap_ms, base_ms << attempt)
    return random.getrandbits(30) % (ceiling + 1)


class LorawanLink:
    def __init__(self, cfg, device, kit, firmware):
        import board

        lw = dict(_DEFAULTS)
        lw.update(cfg.get("lorawan") or {})
        self._lw = lw
        self.device = device
        self.on_config = None  # no downlink config over LoRaWAN
        self.backoff_cap_ms = int(lw["join_backoff_cap_s"] * 1000)
        self._modem = LoRaE5(board.uart(lw["uart"]))
        self._enc = Encoder(layout_for(kit, cfg.get("variant")), airtime.MAX_PAYLOAD_OF_DR[4])
        now = time.ticks_ms()
        air = lw["airtime_ms_per_day"]
        if air is None:
            self._air = airtime.Budget(None, 0, now)
        else:
            per_day = int(air * 1000)
            self._air = airtime.Budget(per_day, min(per_day, max(per_day // 10, _MIN_BURST_US)), now)
        down = lw["confirmed_per_day"]
        if down is not None and down < 2:
            raise ValueError("lorawan.confirmed_per_day must be at least 2 (or null: no limit)")
        self._down = airtime.Budget(down, 1, now)
        self.dr = int(lw["dr"])
        # readings the app takes from the spool per flush: about what fills a 222-byte uplink (a first
        # reading, then ~1 byte of seq, 1 of time and 1 per value each; the encoder takes what really
        # fits), at most 45 (a peek of 30 air-outdoor readings costs 48 KB of garbage on the unix
        # port, tests/firmware/test_transport_heap.py; smaller layouts, smaller records)
        qs = self._enc.qs
        bits = 0
        for q in qs:
            bits += FIELDS[q][0]
        self.batch_max = min(45, (222 - 8 - (bits + 7) // 8) // (2 + len(qs)) + 1)
        self.dev_eui = None
        self.uplinks = 0
        self.failures = 0  # uplinks in a row without ACK
        self._joined = False
        self._set_up = False
        self._retry_at = None  # ticks_ms before which no uplink is tried (after a failure)

    @property
    def connected(self):
        return self._joined

    def backoff_ms(self, attempt, cap_ms=3600000):
        return backoff_ms(attempt, cap_ms)

    async def _setup(self):
        m = self._modem
        lw = self._lw
        try:
            ok = await m.check()
        except LoRaE5Error as e:
            raise LinkError("LoRa-E5 does not answer AT: %s" % e)
        if not ok:
            raise LinkError("LoRa-E5: AT not answered OK")
        self.dev_eui = await m.dev_eui()
        await m.set("MODE", "LWOTAA")
        if lw["join_eui"]:
            await m.set("ID", 'AppEui,"%s"' % lw["join_eui"])
        if lw["app_key"]:
            await m.set("KEY", "APPKEY," + lw["app_key"])  # echoed by the modem: never logged
        await m.set("DR", "EU868")
        await m.set("DR", str(self.dr))
        await m.set("ADR", "ON" if lw["adr"] else "OFF")
        await m.set("PORT", "1")
        self._set_up = True

    async def connect(self):
        """Set the modem up (once) and join (OTAA). LinkError if the join fails: the app retries with a
        full-jitter back-off up to join_backoff_cap_s; each join request is counted in the airtime."""
        if self._joined:
            return
        try:
            if not self._set_up:
                await self._setup()
            cost = airtime.time_on_air_us(airtime.JOIN_REQUEST_PHY, airtime.SF_OF_DR[self.dr])
            await self._wait(self._air, cost)
            ok = await self._modem.join()
            self._air.spend(cost, time.ticks_ms(), time.ticks_diff)
            if not ok:
                raise LinkError("LoRaWAN join failed (no Join Accept)")
            self._joined = True
            self.failures = 0
            self.dr = await self._modem.data_rate()
        except LoRaE5Error as e:
            raise LinkError("LoRa-E5: %s" % e)
        log.event("lorawan_joined", dev_eui=self.dev_eui, dr=self.dr)

    async def _wait(self, budget, cost):
        while True:
            w = budget.wait_ms(cost, time.ticks_ms(), time.ticks_diff)
            if w <= 0:
                return
            await _sleep_ms(min(w, 60000))

    async def ready(self):
        """Wait for the back-off after a failure, then until the budgets allow a full-size uplink."""
        if self._retry_at is not None:
            w = time.ticks_diff(self._retry_at, time.ticks_ms())
            if w > 0:
                await _sleep_ms(w)
            self._retry_at = None
        await self._wait(self._down, 1)
        dr = self.dr
        await self._wait(self._air, airtime.uplink_us(airtime.MAX_PAYLOAD_OF_DR[dr], dr))

    def _failed(self, why):
        self.failures += 1
        self._retry_at = time.ticks_add(time.ticks_ms(),
                                        backoff_ms(self.failures - 1, int(self._lw["retry_backoff_cap_s"] * 1000)))
        if self.failures >= self._lw["rejoin_after_failures"]:
            self._joined = False
        return LinkError(why)

    async def send(self, readings):
        """One confirmed uplink with as many of `readings` (oldest first) as fit the data rate's maximum
        payload. Returns that number once the network acknowledged them; LinkError otherwise."""
        if not self._joined:
            raise LinkError("LoRaWAN: not joined")
        dr = self.dr
        payload, n = self._enc.encode(readings, airtime.MAX_PAYLOAD_OF_DR[dr])
        cost = airtime.uplink_us(len(payload), dr)
        await self._wait(self._down, 1)
        await self._wait(self._air, cost)
        try:
            acked = await self._modem.send(payload, True)
        except NotJoined as e:
            self._joined = False
            raise LinkError("LoRa-E5: %s" % e)
        except Busy as e:  # nothing went on air
            self._retry_at = time.ticks_add(time.ticks_ms(), e.wait_ms)
            raise LinkError("LoRa-E5: %s" % e)
        except LoRaE5Error as e:
            raise self._failed("LoRa-E5: %s" % e)
        now = time.ticks_ms()
        self._air.spend(cost, now, time.ticks_diff)
        self._down.spend(1, now, time.ticks_diff)  # the ACK is a downlink, even when it got lost
        self.uplinks += 1
        m = self._modem
        log.event("lorawan_up", n=n, bytes=len(payload), dr=dr, toa_ms=cost // 1000, acked=int(acked),
                  rssi=m.rssi, snr=m.snr)
        if not acked:
            raise self._failed("LoRaWAN: no ACK for an uplink of %d readings" % n)
        self.failures = 0
        if self._lw["adr"]:
            try:
                self.dr = await m.data_rate()  # ADR may have moved it
            except LoRaE5Error:
                pass
        return n

    async def network_time(self):
        """The network's time (Unix seconds UTC) or None: the modem's clock when already set (a module
        that kept its power while the ESP32 restarted), else a DeviceTimeReq on an empty uplink."""
        if not self._joined:
            return None
        m = self._modem
        try:
            t = await m.rtc()
            if t is not None:
                return t
            cost = airtime.uplink_us(0, self.dr)
            await self._wait(self._air, cost)
            await m.request_time()
            await m.send(b"", False)  # returns after the receive windows, where the answer came
            self._air.spend(cost, time.ticks_ms(), time.ticks_diff)
            t = await m.rtc()
        except NotJoined:
            self._joined = False
            return None
        except LoRaE5Error as e:  # Busy (duty cycle), a timeout: the app asks again later
            log.event("lorawan_time_failed", error=str(e))
            return None
        log.event("lorawan_time", ok=int(t is not None))
        return t

    async def publish_status(self, status):
        """Not sent: a status would cost airtime and a day's budget carries readings first."""
        return None

    async def close(self):
        """The LoRaWAN session stays (a join costs airtime and a downlink); nothing to close."""
        return None
