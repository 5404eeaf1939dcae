"""Run the firmware under CPython when the MicroPython unix port cannot run here.

Adds the few MicroPython-only functions the firmware uses (time.ticks_*, asyncio.sleep_ms, ...)
to CPython's modules, then imports the firmware's main.py from the current directory's path.
"""
import asyncio
import gc
import sys
import time

_T0 = time.monotonic_ns()
_TICKS_PERIOD = 1 << 30  # same wrap-around as MicroPython's small-int ticks


def ticks_ms():
    return ((time.monotonic_ns() - _T0) // 1_000_000) % _TICKS_PERIOD


def ticks_us():
    return ((time.monotonic_ns() - _T0) // 1_000) % _TICKS_PERIOD


def ticks_add(t, delta):
    return (t + delta) % _TICKS_PERIOD


def ticks_diff(a, b):
    d = (a - b) % _TICKS_PERIOD
    return d - _TICKS_PERIOD if d >= _TICKS_PERIOD // 2 else d


def install():
    time.ticks_ms, time.ticks_us = ticks_ms, ticks_us
    time.ticks_add, time.ticks_diff = ticks_add, ticks_diff
    time.sleep_ms = lambda ms: time.sleep(ms / 1000)
    asyncio.sleep_ms = lambda ms: asyncio.sleep(ms / 1000)
    asyncio.wait_for_ms = lambda aw, ms: asyncio.wait_for(aw, ms / 1000)
    gc.mem_free = lambda: 0
    gc.mem_alloc = lambda: 0
    gc.threshold = lambda *amount: -1  # MicroPython's allocation threshold: CPython collects by itself


if __name__ == "__main__":
    install()
    sys.argv = sys.argv[:1]
    import main  # noqa: F401  (the firmware's main.py runs the application)
