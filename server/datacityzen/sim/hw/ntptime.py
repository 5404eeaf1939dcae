"""Simulated `ntptime`: settime() does nothing, because the simulated device's clock already is the
host's. In the MicroPython unix port (and CPython) time.time() reads the host's system clock, which
the host keeps on UTC by NTP, and a user process could not set it anyway. The firmware's time-sync
path still runs end to end; "ntp": {"fail": true} in sim_hw.json makes settime() raise
OSError(110) (ETIMEDOUT), as on the ESP32 when the NTP server does not answer, to test the retries.
A device whose link is not Wi-Fi (machine.link(): cellular, LoRaWAN) gets no answer either: its modem
carries the TCP, the ESP32's own IP stack has no route (the firmware takes the link's time instead).
"""
import time as _time

import machine
import outage

_T0 = _time.real_time() if hasattr(_time, "real_time") else _time.time()

host = "pool.ntp.org"
timeout = 1


def time():
    """Seconds since 1970 UTC, as ntptime.time() answers on the ESP32 ("ntp": {"offset_s": M}: M off)."""
    off = float((machine.config().get("ntp") or {}).get("offset_s", 0))
    return int((_time.real_time() if hasattr(_time, "real_time") else _time.time()) + off)


def settime():
    """"ntp": {"fail": true} fails always; "ntp": {"fail_for_s": S} fails for the first S seconds of
    the process (a clock that stays unset for a while: readings wait with boot id + uptime); and
    no NTP server answers during a network outage. "ntp": {"offset_s": M}: the answer is M s off."""
    ntp = machine.config().get("ntp") or {}
    if ntp.get("fail") or machine.link() != "wifi" or _elapsed() < float(ntp.get("fail_for_s", 0)) or outage.active():
        raise OSError(110)
    if hasattr(_time, "set_clock"):  # the simulated RTC (time.py): now it reads the time NTP gave
        _time.set_clock(int(ntp.get("offset_s", 0)))


def _elapsed():
    return (_time.real_time() if hasattr(_time, "real_time") else _time.time()) - _T0

