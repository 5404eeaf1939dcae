# The application: three asyncio tasks wired together.
#   measure: every interval, one sampling cycle -> a reading appended to the spool (flash)
#   send:    keeps the link up (back-off with jitter), flushes the spool oldest first in batches;
#            a reading leaves the spool only after the broker's PUBACK
#   status:  publishes the device status now and then
# The spool sits between them, so a link that is down costs nothing but a backlog.
# Readings do not wait for the clock: before it is set (by NTP over Wi-Fi, by the network's own time
# over a cellular or LoRaWAN link: link.network_time()), a reading carries the boot number and
# the seconds since boot; once the clock is set the spool gets this boot's anchor (Unix time at
# uptime 0) and hands such readings out with their real time (transport/spool.py).
import gc
import time

# Collect after every 2 KB allocated rather than only when the heap is exhausted, from the first
# import on: garbage then does not pile up between the long-lived objects the app builds, and the
# free space stays in larger pieces (tests/firmware/test_cycle_heap.py: 2-3 KB less heap for a cycle
# of the exhibition kit than collecting every 4 KB from the end of the build only).
gc.threshold(2048)

import asyncio
import log
from micropython import const
from transport.wire import DECIMALS
from unload import forget
from version import VERSION

# Unix time of 2024-01-01: a clock below this has not been set (NTP not reached yet).
_CLOCK_VALID_AFTER = const(1704067200)
# NTP moving a clock taken as set by more than this is a correction of a wrong clock (an RTC years
# off), not drift: what waits in the spool is shifted with it (spool.shift_times).
_CLOCK_JUMP_S = const(120)
# How often a waiting loop looks at its flag (_until): a reading waits at most this long to be sent.
_POLL_MS = const(100)
# Ports whose time.time() counts from 2000-01-01 need this added to give Unix time.
_EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0


def unix_time():
    # Whole seconds: ESP32 floats are single precision (a fractional Unix time would lose minutes).
    return int(time.time()) + _EPOCH_OFFSET


def clock_is_set():
    return unix_time() > _CLOCK_VALID_AFTER


class App:
    def __init__(self, cfg, link=None):
        import board
        import sensors
        from transport.spool import Spool

        self.cfg = cfg
        self.device = cfg["device_id"]
        self.kit = cfg["kit_id"]
        self.sampler = sensors.build(cfg, board.make_buses(cfg), cfg["sampling"])
        for key in ("buses", "sensors", "derived", "pollen", "board"):
            cfg.pop(key, None)  # their objects exist now: the link's modules load in the space
        self.spool = Spool(cfg["spool"]["dir"], cfg["spool"]["max_bytes"], cfg["spool"].get("seg_bytes", 16384))
        if link is None:
            from transport.links import make_link

            link = make_link(cfg, self.device, self.kit, VERSION)
        self.link = link
        self.link.on_config = self.apply_config
        # Seconds since boot that do not wrap: time.ticks_ms() wraps (after 12.4 days on the ESP32,
        # 2**30 ms), so the difference is accumulated at least once per measurement cycle. _up_last is
        # the tick at which _up_s was last whole (the milliseconds left over stay in the difference).
        self._up_last = time.ticks_ms()
        self._up_s = 0
        self.clock_anchored = False
        self.ntp_ok = False  # NTP (or the link's time) answered since boot: until then asked again now and then
        self.config_rev = cfg.pop("rev", None)  # the last downlink config applied (kept in downlink.json)
        self.config_rejected = None
        # Flags the loops poll (see _POLL_MS): set by a downlink (publish the status now) and by each
        # reading (something to send).
        self.status_due = False
        self.last_errors = []
        self.readings_ready = False
        self.wdt = None
        if cfg.get("watchdog_ms"):
            import machine

            self.wdt = machine.WDT(timeout=cfg["watchdog_ms"])
        _drop_build_state(cfg)

    # -- one step of each task (also what the tests drive) --------------------------------------
    async def measure_once(self):
        values = {}
        flags = {}
        errors = []
        await self.sampler.measure(values, flags, errors)
        for q in values:  # the wire's resolution (decimals + 1): shorter records on flash
            values[q] = round(values[q], DECIMALS.get(q, 3))
        up = self.uptime_s()
        if clock_is_set():
            reading = {"time": unix_time(), "values": values}
        else:  # time fixed up from this boot's anchor once the clock is set (spool.peek)
            reading = {"up": up, "values": values}
        if flags:
            reading["flags"] = flags
        if errors:
            reading["errors"] = errors
        self.last_errors = errors
        seq = self.spool.append(reading)
        for e in errors:
            log.event("sensor_error", sensor=e["sensor"], error=e["error"], seq=seq)
        log.event("measured", seq=seq, n=len(values), free=gc.mem_free())
        self.readings_ready = True
        return reading

    async def flush_once(self):
        """Send one batch from the spool; return how many readings the broker acknowledged.

        A collection first: a send is the cycle's peak, and what the measurement left behind is then
        out of its way, whenever the collector last ran. With the machine loaded by other tests,
        exhibition-v1's cycle (tests/firmware/test_cycle_heap.py) needed 1 KB more heap in 4 runs of 6
        without it, and in 1 run of 6 with it."""
        gc.collect()
        self.anchor_clock()
        ready = getattr(self.link, "ready", None)
        if ready is not None:  # a link with an airtime budget waits here: the batch grows meanwhile
            await ready()
        # a link may ask for larger batches than cfg["batch_max"] (LoRaWAN: as many as fill an uplink)
        batch = self.spool.peek(max(self.cfg["batch_max"], getattr(self.link, "batch_max", 0)))
        if not batch:
            return 0
        n = await self.link.send(batch)
        if n is not None:  # the link carried only the first n (LoRaWAN: one uplink's worth)
            batch = batch[:n]
        last = batch[-1]["seq"]
        self.spool.ack(last)
        log.event("acked", seq=last, n=len(batch), pending=self.spool.pending())
        return len(batch)

    def uptime_s(self):
        now = time.ticks_ms()
        ms = time.ticks_diff(now, self._up_last)
        self._up_s += ms // 1000
        self._up_last = time.ticks_add(now, -(ms % 1000))
        return self._up_s

    def anchor_clock(self):
        """Once the clock is set, give the spool this boot's anchor (Unix time at uptime 0)."""
        if not self.clock_anchored and clock_is_set():
            self.spool.set_clock(unix_time() - self.uptime_s())
            self.clock_anchored = True
            log.event("clock_set", boot=self.spool.boot)

    async def sync_clock(self):
        """The link's own time when it has one (link.network_time(): cellular, LoRaWAN; their ESP32
        has no IP route of its own for NTP), else NTP (sync_clock: Wi-Fi). When it moves a clock that
        was already taken as set by more than _CLOCK_JUMP_S, the readings stamped with the old clock
        get the same correction."""
        before = unix_time()
        t = time.ticks_ms()
        network_time = getattr(self.link, "network_time", None)
        if network_time is None:
            ok = sync_clock()
        else:
            now = await network_time()
            ok = now is not None
            if ok:
                from drivers.utc import set_rtc  # loaded by the radio links only

                set_rtc(now)
                log.event("clock_from_link", unix=now)
        self.ntp_ok = ok or self.ntp_ok
        jump = unix_time() - before - time.ticks_diff(time.ticks_ms(), t) // 1000
        if (jump > _CLOCK_JUMP_S or jump < -_CLOCK_JUMP_S) and before > _CLOCK_VALID_AFTER and clock_is_set():
            self.spool.shift_times(jump)
            log.event("clock_corrected", by_s=jump, pending=self.spool.pending())
        if network_time is not None:  # the exchange's garbage (LoRaWAN waits seconds for its answer)
            gc.collect()  # goes before a reading is taken: 5 KB less peak for noise-v1 over LoRaWAN

    def status(self):
        s = {
            "state": "online",
            "kit": self.kit,
            "firmware": VERSION,
            "uptime_s": self.uptime_s(),
            "boot": self.spool.boot,
            "spool_pending": self.spool.pending(),
            "spool_dropped": self.spool.dropped,
            "spool_untimed": self.spool.untimed,
            "free_heap": gc.mem_free(),
            "errors": self.last_errors,
        }
        if self.config_rev is not None:
            s["config_rev"] = self.config_rev
        if self.config_rejected:
            s["config_rejected"] = self.config_rejected
        return s

    def apply_config(self, update):
        """A downlink config: checked, applied, kept and acknowledged (downlink.py). downlink.py and the
        config.py it loads are forgotten afterwards: a retained config comes again at each connect,
        and they would stay in RAM for the rest of the boot."""
        import downlink

        try:
            downlink.apply(self, update)
        finally:
            forget("downlink")
            forget("config")

    # -- the tasks --------------------------------------------------------------------------------
    async def measure_loop(self):
        budget = self.cfg["sampling"].get("max_readings")  # None: measure forever
        taken = 0
        while budget is None or taken < budget:
            started = time.ticks_ms()
            taken += 1
            try:
                await self.measure_once()
            except Exception as exc:  # a bug in one cycle must not stop the station
                log.event("measure_failed", error=repr(exc))
            if self.wdt:
                self.wdt.feed()
            gc.collect()
            interval_ms = int(self.cfg["sampling"]["interval_s"] * 1000)
            wait = interval_ms - time.ticks_diff(time.ticks_ms(), started)
            await asyncio.sleep_ms(wait if wait > 0 else 0)
        log.event("measure_budget_done", readings=taken)
        while True:  # keep sending what is left in the spool
            await asyncio.sleep_ms(60000)

    async def send_loop(self):
        backoff_ms = getattr(self.link, "backoff_ms", None)  # a link's own (no Wi-Fi module in RAM)
        if backoff_ms is None:
            from transport.mqtt_link import backoff_ms

        attempt = 0
        network_seen = False  # connected since boot: a later outage may open the setup portal again
        ntp_tried = None
        ntp_wait = 2500
        while True:
            if not self.link.connected:
                try:
                    await self.link.connect()
                    await self.sync_clock()
                    await self.link.publish_status(self.status())
                    log.event("connected", attempt=attempt)
                    attempt = 0
                except Exception as exc:
                    delay = backoff_ms(attempt, cap_ms=getattr(self.link, "backoff_cap_ms", 300000))
                    log.event("connect_failed", attempt=attempt, retry_ms=delay, free=gc.mem_free(), error=repr(exc))
                    attempt += 1
                    # A Wi-Fi link knows how long its network has been missing: the setup portal may help.
                    absent_ms = self.link.network_absent_ms() if hasattr(self.link, "network_absent_ms") else None
                    if absent_ms is not None and absent_ms >= int(self.cfg["wifi"].get("portal_after_s", 20) * 1000):
                        _portal_gate().open_for_absent_network()  # reboots into the portal
                    await asyncio.sleep_ms(delay)
                    continue
                if not network_seen:
                    network_seen = True
                    _portal_gate().network_back()
            try:
                sent = await self.flush_once()
            except Exception as exc:
                log.event("send_failed", error=repr(exc), pending=self.spool.pending())
                await self.link.close()
                continue
            if sent == 0:
                if (not clock_is_set() or not self.ntp_ok) and (ntp_tried is None or
                                           time.ticks_diff(time.ticks_ms(), ntp_tried) > ntp_wait):
                    ntp_tried = time.ticks_ms()  # readings wait for their time (or a clock NTP never
                    # confirmed may be wrong): try NTP again,
                    ntp_wait = min(ntp_wait * 2, 300000)  # less and less often (5 s .. 5 min)
                    await self.sync_clock()
                    continue
                self.readings_ready = False
                await _until(self, "readings_ready", 5000)  # then the link and the clock are checked again

    async def status_loop(self):
        while True:
            self.status_due = False
            await _until(self, "status_due", int(self.cfg["status_every_s"] * 1000))
            if self.link.connected:
                try:
                    await self.link.publish_status(self.status())
                except Exception as exc:
                    log.event("status_failed", error=repr(exc))

    async def main(self):
        log.event("boot", device=self.device, kit=self.kit, firmware=VERSION, pending=self.spool.pending())
        asyncio.create_task(self.send_loop())
        asyncio.create_task(self.status_loop())
        await self.measure_loop()


async def _until(app, flag, timeout_ms):
    """Wait until the app's `flag` is set, at most `timeout_ms`: short sleeps that look at it. An
    asyncio.Event waited on with asyncio.wait_for_ms keeps a task and its timeout alive meanwhile
    (0.7 KB on the unix port); the status task waits so all the time, the send task while each
    reading is being taken. A flag is seen within _POLL_MS."""
    waited = 0
    while not getattr(app, flag) and waited < timeout_ms:
        await asyncio.sleep_ms(_POLL_MS)
        waited += _POLL_MS


def _drop_build_state(cfg):
    """Once the app is built, what only served to build it leaves the heap (the kit's bus and sensor
    sections went as soon as the sensors were built): board.py (the pins are set up once; the sensors
    took what they need from it) and transport/links.py (the link is chosen). A few KB that the
    measure-and-publish cycle gets instead.

    The configuration keeps only what is read while running (the app's loops, a downlink, the link's
    reconnects): the sections whose objects exist now go, and of "sampling" the sensors took theirs
    (average, period, warm-up), the app reads interval_s and max_readings. The link holds this same
    dict, so it is trimmed in place; clear() then frees its table, sized for all the kit's sections,
    and the entries left are put back in one sized for them."""
    for key in ("variant", "spool", "transport", "safe_mode_pin", "watchdog_ms", "id", "device_id", "kit_id"):
        cfg.pop(key, None)
    sampling = cfg["sampling"]
    cfg["sampling"] = {"interval_s": sampling["interval_s"], "max_readings": sampling.get("max_readings")}
    kept = list(cfg.items())
    cfg.clear()
    for key, value in kept:
        cfg[key] = value
    forget("board")
    forget("transport.links")
    gc.collect()


def sync_clock():
    """Set the clock from NTP once a network is up; keep going on failure (try again next connect)."""
    try:
        import ntptime

        ntptime.settime()
        return True
    except Exception as exc:
        log.event("ntp_failed", error=repr(exc))
        return False


def safe_mode(cfg):
    """Holding the kit's safe-mode pin low at boot skips the application (back to the REPL)."""
    pin_no = cfg.get("safe_mode_pin")
    if pin_no is None:
        return False
    import machine

    return machine.Pin(pin_no, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0


def load_config():
    """(cfg, None), or (None, the problem) when the configuration files are missing or wrong.
    config.py leaves the heap afterwards: it is needed again only for a downlink."""
    import config

    try:
        return config.load(), None
    except config.ConfigError as exc:
        return None, str(exc)
    finally:
        forget("config")


def run():
    cfg, problem = load_config()
    if problem:
        log.event("config_error", error=problem)
        return
    if safe_mode(cfg):
        log.event("safe_mode")
        return
    if _portal_gate().serve_if_wanted(cfg):
        return
    asyncio.run(App(cfg).main())


def _portal_gate():
    """portal_gate.py for one use (at boot, after a failed connect): forgotten as soon as the caller
    lets go of it, so the cycle does not carry code it never runs."""
    import portal_gate

    forget("portal_gate")
    return portal_gate
