"""Simulated ESP32 real-time clock, over the unix port's `time` module (this file shadows it).

By default the clock of a Wi-Fi device is the host's (already set, as after a successful NTP sync). With
"clock": {"unset": true} in sim_hw.json, and always for a device whose link is not Wi-Fi (cellular,
LoRaWAN: machine.link()) unless "clock" gives an "offset_s", the device powers up like an ESP32: its
clock starts at 2000-01-01 00:00:00 UTC and counts up from there until ntptime.settime() or
machine.RTC().datetime() (the link's time) sets it (see ntptime.py,
"ntp": {"fail_for_s": S} keeps NTP out of reach for a while). Everything else (ticks, sleeps) is the
real module's. The simulated outdoors (sim_env) keeps reading the real time through `real_time()`.
Under CPython `time` is a built-in module, so this file is never imported there.
"""
import sys

_self = sys.modules.get("time")
sys.modules.pop("time", None)
_path = sys.path[:]
sys.path.clear()
try:
    import time as _real
finally:
    sys.path.extend(_path)
    if _self is not None:
        sys.modules["time"] = _self

for _k in dir(_real):
    if not _k.startswith("__"):
        globals()[_k] = getattr(_real, _k)

_Y2000 = 946684800  # Unix time of 2000-01-01, where an ESP32's RTC starts at power-on
_T0 = _real.time()
_off = None  # seconds the RTC is behind the real time; None: not read from sim_hw.json yet


def real_time():
    return _real.time()


def _offset():
    global _off
    if _off is None:
        import machine

        clock = machine.config().get("clock") or {}
        unset = clock.get("unset") or ("offset_s" not in clock and machine.link() != "wifi")
        _off = (_T0 - _Y2000) if unset else -int(clock.get("offset_s", 0))
    return _off


def set_clock(offset_s=0):
    """What ntptime.settime() does to the RTC: from now on the clock reads the time NTP gave (the real
    time, or `offset_s` off it)."""
    global _off
    _off = -int(offset_s)


def time():
    return _real.time() - _offset()


def time_ns():
    return _real.time_ns() - int(_offset() * 1000000000)


def gmtime(secs=None):
    return _real.gmtime(time() if secs is None else secs)


def localtime(secs=None):
    return _real.localtime(time() if secs is None else secs)
