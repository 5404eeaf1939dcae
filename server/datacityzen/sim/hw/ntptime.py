"""Simulated `ntptime`: settime() does nothing, because the simulated device's clock already is the
host's. In the MicroPython unix port (and CPython) time.time() reads the host's system clock, which
the host keeps on UTC by NTP, and a user process could not set it anyway. The firmware's time-sync
path still runs end to end; "ntp": {"fail": true} in sim_hw.json makes settime() raise
OSError(110) (ETIMEDOUT), as on the ESP32 when the NTP server does not answer, to test the retries.
"""
import time as _time

import machine

host = "pool.ntp.org"
timeout = 1


def time():
    """Seconds since 1970 UTC, as ntptime.time() answers on the ESP32."""
    return int(_time.time())


def settime():
    if (machine.config().get("ntp") or {}).get("fail"):
        raise OSError(110)

