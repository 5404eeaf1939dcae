# Configuration: defaults, overlaid by the kit definition, the device's own file, then the last
# downlink. Each layer is a JSON file on the flash filesystem; nothing is edited in place.
import json


def defaults():
    # A function, not a module-level dict: load() copies it into the config anyway, so a constant
    # table would only hold a second copy in RAM for the life of the firmware.
    return {
        "device_id": None,
        "sampling": {"interval_s": 60, "average_s": 5, "sample_period_s": 1, "warmup_s": None,
                     # stop measuring after this many readings this boot (simulator, bench tests)
                     "max_readings": None},
        # No ssid: the setup portal opens (portal.py); so it does when the network is absent 20 s.
        "wifi": {"ssid": "", "password": "", "portal_after_s": 20},
        # "tls": {"ca": "ca.pem"} (a CA bundle file on flash, PEM) encrypts and checks the broker's
        # certificate; "server_hostname" when the certificate's name is not "host".
        "mqtt": {"host": "", "port": 1883, "username": None, "password": None, "keepalive_s": 60,
                 "tls": None, "backoff_cap_s": 300},
        # 768 KiB: about 5,400 readings of air-outdoor-v1 (145 bytes each), 9 days at 145 s
        # (tests/firmware/test_spool_store_forward.py); the ESP32's littlefs partition is 2 MiB on
        # a 4 MiB board (MicroPython's partitions.csv). 16 KiB segments: at most 48 in RAM.
        "spool": {"dir": "spool", "max_bytes": 768 * 1024, "seg_bytes": 16384},
        "batch_max": 20,
        "status_every_s": 300,
        "safe_mode_pin": None,
        "watchdog_ms": 0,
    }


KIT_FILE = "kit.json"
DEVICE_FILE = "device.json"
DOWNLINK_FILE = "downlink.json"


class ConfigError(Exception):
    pass


def merged(base, overlay):
    """A new dict: `base` with `overlay` laid over it, nested dicts merged key by key."""
    out = {}
    for k in base:
        out[k] = base[k]
    for k in overlay:
        v = overlay[k]
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merged(out[k], v)
        else:
            out[k] = v
    return out


def read_json(path, required):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError:
        if required:
            raise ConfigError("missing " + path + ": flash the device with its kit and config")
        return {}
    except ValueError:
        raise ConfigError(path + " is not valid JSON")


def read_kit(kit_file):
    # The flash tool also writes the kit as a compiled module (kitdef.mpy): no JSON parsing at boot.
    # A kit.json beside it wins, so a kit edited on the board by hand is not ignored.
    try:
        return read_json(kit_file, True)
    except ConfigError:
        try:
            import kitdef

            return kitdef.kit()
        except ImportError:
            raise ConfigError("missing " + kit_file + ": flash the device with its kit and config")


def load(kit_file=KIT_FILE, device_file=DEVICE_FILE, downlink_file=DOWNLINK_FILE):
    kit = read_kit(kit_file)
    device = read_json(device_file, True)
    downlink = read_json(downlink_file, False)
    kit.pop("name", None)  # display names (several languages) are for people, not for the device
    # A kit may offer variants (e.g. an SPS30 instead of an SDS011); the device file picks one. Only
    # the chosen one is kept, so the others cost no RAM.
    variants = kit.pop("variants", None) or {}
    chosen = device.get("variant")
    if chosen:
        if chosen not in variants:
            raise ConfigError(device_file + ": kit " + str(kit.get("id")) + " has no variant " + str(chosen))
        for key in ("buses", "sensors"):
            if key in variants[chosen]:
                kit[key] = variants[chosen][key]
    cfg = merged(merged(merged(defaults(), kit), device), downlink)
    cfg["kit_id"] = kit.get("id")
    if not cfg.get("device_id"):
        raise ConfigError(device_file + " has no device_id")
    if not cfg["mqtt"].get("host") and cfg["wifi"].get("ssid"):
        raise ConfigError(device_file + " has no mqtt.host")
    return cfg


def save_downlink(update, path=DOWNLINK_FILE):
    """Keep a downlink config across reboots (merged with the previous one)."""
    current = read_json(path, False)
    with open(path + ".tmp", "w") as f:
        json.dump(merged(current, update), f)
    import os

    os.rename(path + ".tmp", path)
