"""When the setup portal (portal.py) runs instead of the app, and the flags on flash that decide it.

The portal opens at boot for a Wi-Fi kit with no network set yet, or when asked (PORTAL_FLAG); the
running app asks for it (and reboots) once the configured network has been absent for
wifi.portal_after_s. Its code and sockets do not fit in RAM beside the running app, so it always runs
from a fresh boot.

None of this is used by a measure-and-publish cycle: app.py loads this module at boot and when the
link fails to connect, and forgets it after each use (app._portal_gate).
"""
import log

PORTAL_FLAG = "portal.flag"  # next boot opens the portal
PORTAL_SKIP = "portal.skip"  # the portal timed out: do not reopen it before the network is back


def wants_portal(cfg):
    """A Wi-Fi kit with no network set yet, or asked for (PORTAL_FLAG). A kit on another link
    (LoRaWAN) needs no Wi-Fi: it only opens when asked."""
    if _exists(PORTAL_FLAG):
        return True
    return (cfg.get("transport") or {}).get("link", "wifi") == "wifi" and not cfg["wifi"].get("ssid")


def serve_if_wanted(cfg):
    """At boot: when the portal is wanted, serve it, then reboot (the settings saved, or the portal
    timed out) and return True; else False, and the app runs."""
    if not wants_portal(cfg):
        return False
    # first boot (nothing to join yet) or the network went missing: ask the host
    import asyncio
    import os

    import portal

    try:
        os.remove(PORTAL_FLAG)
    except OSError:
        pass
    why = asyncio.run(portal.Portal(cfg).serve())  # returns unless the settings were saved
    if why == "timeout" and cfg["wifi"].get("ssid"):
        with open(PORTAL_SKIP, "w") as f:  # back to measuring; no portal again until connected
            f.write(why)
    reset(why)
    return True


def open_for_absent_network():
    """The configured network has been absent for wifi.portal_after_s (app.py): reboot into the
    portal. Once per outage: after a portal that timed out (PORTAL_SKIP), the app keeps measuring into
    the spool until the network is back."""
    if _exists(PORTAL_SKIP):
        return
    with open(PORTAL_FLAG, "w") as f:
        f.write("network absent")
    reset("portal")


def network_back():
    """Connected: a later outage may open the portal again."""
    import os

    try:
        os.remove(PORTAL_SKIP)
    except OSError:
        pass


def _exists(path):
    import os

    try:
        os.stat(path)
        return True
    except OSError:
        return False


def reset(reason):
    log.event("reset", reason=reason)
    import machine

    machine.reset()
