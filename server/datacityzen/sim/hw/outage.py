"""The simulated network outage shared by every simulated network path (Wi-Fi, modems).

`datacityzen sim --outage D` writes "outage": {"after_s": A, "for_s": D} into the device's sim_hw.json:
from A seconds after the device process started, for D seconds, no network reaches the device (the
Wi-Fi access point vanishes, a modem loses its registration). The process start is taken as the
first import of this module (the firmware's first network use, a fraction of a second after start);
the runner also cuts TCP connections through its relay for the same window.
"""
import time

import machine


def _now():
    # the real time even when the simulated RTC is unset (time.py)
    return time.real_time() if hasattr(time, "real_time") else time.time()


_T0 = _now()


def active(now=None):
    """True while the outage described in sim_hw.json is under way."""
    o = machine.config().get("outage")
    if not o:
        return False
    t = (_now() if now is None else now) - _T0
    after = float(o.get("after_s", 0))
    return after <= t < after + float(o.get("for_s", 0))
