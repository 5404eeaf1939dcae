# The application: three asyncio tasks wired together.
#   measure: every interval, one sampling cycle -> a reading appended to the spool (flash)
#   send:    keeps the link up (back-off with jitter), flushes the spool oldest first in batches;
#            a reading leaves the spool only after the broker's PUBACK
#   status:  publishes the device status now and then
# The spool sits between them, so a link that is down costs nothing but a backlog.
import gc
import time

import asyncio
import log
from micropython import const
from version import VERSION

# Unix time of 2024-01-01: a clock below this has not been set (NTP not reached yet).
_CLOCK_VALID_AFTER = const(1704067200)
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
        self.buses = board.make_buses(cfg)
        self.sampler = sensors.build(cfg, self.buses, cfg["sampling"])
        self.spool = Spool(cfg["spool"]["dir"], cfg["spool"]["max_bytes"])
        if link is None:
            from transport.links import make_link

            link = make_link(cfg, self.device, self.kit, VERSION)
        self.link = link
        self.link.on_config = self.apply_config
        self.booted_ms = time.ticks_ms()
        self.last_errors = []
        self.readings_ready = asyncio.Event()
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
        reading = {"time": unix_time(), "values": values}
        if flags:
            reading["flags"] = flags
        if errors:
            reading["errors"] = errors
        self.last_errors = errors
        seq = self.spool.append(reading)
        for e in errors:
            log.event("sensor_error", sensor=e["sensor"], error=e["error"], seq=seq)
        log.event("measured", seq=seq, n=len(values))
        self.readings_ready.set()
        return reading

    async def flush_once(self):
        """Send one batch from the spool; return how many readings the broker acknowledged."""
        batch = self.spool.peek(self.cfg["batch_max"])
        if not batch:
            return 0
        await self.link.send(batch)
        last = batch[-1]["seq"]
        self.spool.ack(last)
        log.event("acked", seq=last, n=len(batch), pending=self.spool.pending())
        return len(batch)

    def status(self):
        return {
            "state": "online",
            "kit": self.kit,
            "firmware": VERSION,
            "uptime_s": time.ticks_diff(time.ticks_ms(), self.booted_ms) // 1000,
            "spool_pending": self.spool.pending(),
            "spool_dropped": self.spool.dropped,
            "free_heap": gc.mem_free(),
            "errors": self.last_errors,
        }

    def apply_config(self, update):
        """A downlink config: overlay it now and keep it for the next boot."""
        import config  # loaded on demand: run() unloads it once the configuration is read

        sampling = update.get("sampling")
        if isinstance(sampling, dict):
            self.cfg["sampling"] = config.merged(self.cfg["sampling"], sampling)
        config.save_downlink(update)
        log.event("config_applied", keys=",".join(update))

    # -- the tasks --------------------------------------------------------------------------------
    async def measure_loop(self):
        while not clock_is_set():  # readings need a real time; the send task syncs the clock
            await asyncio.sleep_ms(500)
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
        from transport.wifi_mqtt import backoff_ms

        attempt = 0
        while True:
            if not self.link.connected:
                try:
                    await self.link.connect()
                    sync_clock()
                    await self.link.publish_status(self.status())
                    log.event("connected", attempt=attempt)
                    attempt = 0
                except Exception as exc:
                    delay = backoff_ms(attempt)
                    log.event("connect_failed", attempt=attempt, retry_ms=delay, error=repr(exc))
                    attempt += 1
                    await asyncio.sleep_ms(delay)
                    continue
            try:
                sent = await self.flush_once()
            except Exception as exc:
                log.event("send_failed", error=repr(exc), pending=self.spool.pending())
                await self.link.close()
                continue
            if sent == 0:
                self.readings_ready.clear()
                try:
                    await asyncio.wait_for_ms(self.readings_ready.wait(), 5000)
                except asyncio.TimeoutError:
                    pass

    async def status_loop(self):
        every_ms = int(self.cfg["status_every_s"] * 1000)
        while True:
            await asyncio.sleep_ms(every_ms)
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


def _drop_build_state(cfg):
    """Once the app is built, what only served to build it leaves the heap: the kit's bus and sensor
    sections (their objects exist now), board.py (the pins are set up once; the sensors took what
    they need from it) and transport/links.py (the link is chosen). A few KB that the
    measure-and-publish cycle gets instead."""
    for key in ("buses", "sensors", "derived", "pollen", "board"):
        cfg.pop(key, None)
    import sys

    import transport

    sys.modules.pop("board", None)
    sys.modules.pop("transport.links", None)
    if hasattr(transport, "links"):
        delattr(transport, "links")
    # Collect after every few KB allocated rather than only when the heap is exhausted: garbage then
    # does not pile up between the long-lived objects, and the free space stays in larger pieces.
    gc.collect()
    gc.threshold(4096)


def sync_clock():
    """Set the clock from NTP once a network is up; keep going on failure (try again next connect)."""
    try:
        import ntptime

        ntptime.settime()
    except Exception as exc:
        log.event("ntp_failed", error=repr(exc))


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
    import sys

    import config

    try:
        return config.load(), None
    except config.ConfigError as exc:
        return None, str(exc)
    finally:
        sys.modules.pop("config", None)


def run():
    cfg, problem = load_config()
    if problem:
        log.event("config_error", error=problem)
        return
    if safe_mode(cfg):
        log.event("safe_mode")
        return
    asyncio.run(App(cfg).main())
