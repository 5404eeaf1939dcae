"""The sensor layer: warm-up, duty cycle, averaging windows and quality flags.

    sampler = sensors.build(kit, buses, sampling)
    await sampler.measure(values, flags, errors)   # one cycle; fills the caller's dicts and list

`sampling`: interval_s (used by the app), average_s (window length, s), sample_period_s (s between
samples) and optional warmup_s. Warm-up precedence: sampling["warmup_s"] when not None (the simulator
sets 0), else the kit sensor entry's "warmup_s", else the sensor's datasheet default.

One module per sensor type, loaded on first use so RAM is paid only for the kit's sensors. Each
defines `Sensor(entry, bus, warmup_s)` with: `win` (a window.Window), `warmup_ms`,
`begin()` -> bool (wake / (re)detect; False when unusable this cycle), `start_window()`,
`async sample()`, `end()` (back to sleep). `begin` and `end` may be `async def` when the chip needs
time between commands (the sampler awaits them then). Sensors record their own failures in `win`.

Derived quantities, computed from the cycle's values after every sensor reported, are asked for by
the kit: "derived": ["pollen_proxy"] (sensors/pollen.py; options in kit["pollen"]).
"""
import asyncio
import time

class Sampler:
    def __init__(self, sensors, derived, quantities, average_ms, period_ms):
        """Built by build() (sensors/from_kit.py): the kit's sensor objects and derived quantities."""
        self._sensors = sensors
        self._derived = derived
        self.quantities = quantities
        self._average_ms = average_ms
        self._period_ms = period_ms
        self._ticks = max(1, average_ms // period_ms)
        self._active = []

    def _failed(self, s, exc):
        # A bug in one sensor module must not stop the others; report it as invalid data.
        import sys
        sys.print_exception(exc)
        s.win.error("invalid")

    async def measure(self, values, flags, errors):
        """One measurement cycle. Adds to values/flags/errors without clearing them (the caller
        reuses its containers and may run several samplers). Returns nothing."""
        sensors = self._sensors
        warm = 0
        active = self._active
        active.clear()
        for s in sensors:
            s.win.reset(s.planned(self._average_ms, self._period_ms))
            try:
                ok = s.begin()
                if ok is not True and ok is not False and ok is not None:
                    ok = await ok  # an async begin() (see the module docstring)
                if ok:
                    active.append(s)
                    if s.warmup_ms > warm:
                        warm = s.warmup_ms
            except Exception as e:
                self._failed(s, e)
        if warm:
            await asyncio.sleep_ms(warm)
        for s in active:
            try:
                s.start_window()
            except Exception as e:
                self._failed(s, e)
        start = time.ticks_ms()
        for i in range(1, self._ticks + 1):
            delay = time.ticks_diff(time.ticks_add(start, i * self._period_ms), time.ticks_ms())
            if delay > 0:
                await asyncio.sleep_ms(delay)
            for s in active:
                try:
                    await s.sample()
                except Exception as e:
                    self._failed(s, e)
        for s in active:
            try:
                done = s.end()
                if done is not None:
                    await done  # an async end()
            except Exception as e:
                self._failed(s, e)
        for s in sensors:
            s.win.report(values, flags, errors)
        for d in self._derived:
            try:
                d.derive(values, flags)
            except Exception as e:
                import sys
                sys.print_exception(e)
        active.clear()


def build(kit, buses, sampling):
    """Build the kit's sampler from kit["sensors"] and the buses made by board.make_buses().

    The code that reads the kit (sensors/from_kit.py) is needed only now: it is unloaded afterwards
    (the next build loads it again), which leaves its objects out of every measurement cycle's heap."""
    from sensors import from_kit
    from unload import forget

    try:
        return from_kit.sampler(kit, buses, sampling)
    finally:
        forget("sensors.from_kit")
