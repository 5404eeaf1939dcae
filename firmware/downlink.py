"""A downlink config (dcz/v1/<device>/config): checked, applied, kept for the next boot, acknowledged.

Loaded only when one arrives. The acknowledgement (docs/wire-format.md): the next status, published
at once, carries the config's "rev" as "config_rev", or "config_rejected": {"rev", "error"}.
"""
import config
import log


def _number_in(v, lo, hi):
    return not isinstance(v, bool) and isinstance(v, (int, float)) and lo <= v <= hi


# What a downlink may change while running (anything else waits for a new device.json).
_DOWNLINK_KEYS = ("rev", "sampling", "status_every_s", "batch_max")


def check(update):
    """None if `update` (a decoded downlink, without "version") may be applied, else why not."""
    for k in update:
        if k not in _DOWNLINK_KEYS:
            return "unknown key " + k
    rev = update.get("rev")
    if rev is not None and not (isinstance(rev, int) and not isinstance(rev, bool) and rev >= 0):
        return "rev must be a whole number >= 0"
    sampling = update.get("sampling", {})
    if not isinstance(sampling, dict):
        return "sampling must be an object"
    if "interval_s" in sampling and not _number_in(sampling["interval_s"], 1, 86400):
        return "sampling.interval_s must be 1..86400"
    for k in sampling:
        if k != "interval_s":
            return "sampling." + k + " cannot change by downlink"
    if "status_every_s" in update and not _number_in(update["status_every_s"], 10, 86400):
        return "status_every_s must be 10..86400"
    if "batch_max" in update and not _number_in(update["batch_max"], 1, 100):
        return "batch_max must be 1..100"
    return None


def apply(app, update):
    """Overlay `update` on the running app's config now and keep it in downlink.json."""
    rev = update.get("rev")
    if rev is not None and rev == app.config_rev:
        return  # the retained config again, after a reconnect: already applied
    error = check(update)
    if error:
        app.config_rejected = {"rev": rev, "error": error}
        log.event("config_rejected", rev=rev, error=error)
    else:
        cfg = app.cfg
        sampling = update.get("sampling")
        if sampling:
            cfg["sampling"] = config.merged(cfg["sampling"], sampling)
        for k in ("status_every_s", "batch_max"):
            if k in update:
                cfg[k] = update[k]
        config.save_downlink(update)
        app.config_rev = rev
        app.config_rejected = None
        log.event("config_applied", rev=rev, keys=",".join(update))
    app.status_due = True  # the status task publishes at once
