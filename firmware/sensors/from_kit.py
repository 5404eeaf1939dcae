"""Builds the kit's Sampler (sensors/__init__.py): each sensor entry's module, the derived quantities.

Used once, while the app is built: sensors.build() imports this module and unloads it afterwards, so
the table of sensor modules and the code that reads the kit leave the heap before the first cycle.
"""
import sensors

_MODULES = {
    "sds011": "pm_sds011", "bme280": "climate_bme280",
    "bme680": "climate_bme680", "sht3x": "climate_sht3x", "sht4x": "climate_sht4x",
    "pms5003": "pm_pms5003", "pms7003": "pm_pms5003", "sps30": "pm_sps30",
    "inmp441": "sound_i2s", "ics43434": "sound_i2s", "sph0645": "sound_i2s",
}
_DERIVED = {"pollen_proxy": "pollen"}


def _load(sensor_type):
    try:
        name = _MODULES[sensor_type]
    except KeyError:
        raise ValueError("sensor type %r unknown; known: %s" % (sensor_type, ", ".join(sorted(_MODULES))))
    return __import__("sensors." + name, None, None, ("Sensor",)).Sensor


def _load_derived(name, kit):
    try:
        module = _DERIVED[name]
    except KeyError:
        raise ValueError("derived quantity %r unknown; known: %s" % (name, ", ".join(sorted(_DERIVED))))
    return __import__("sensors." + module, None, None, ("Derived",)).Derived(kit)


def _ms(seconds):
    return int(seconds * 1000)


def sampler(kit, buses, sampling):
    """The Sampler for kit["sensors"] and kit["derived"] (see sensors/__init__.py for `sampling`)."""
    override = sampling.get("warmup_s")
    built = []
    quantities = []
    for entry in kit["sensors"]:
        cls = _load(entry["type"])
        warmup = override if override is not None else entry.get("warmup_s")
        s = cls(entry, buses.get(entry["bus"]), warmup)
        built.append(s)
        quantities.extend(s.win.quantities)
    derived = [_load_derived(name, kit) for name in kit.get("derived") or ()]
    for d in derived:
        quantities.append(d.quantity)
    return sensors.Sampler(built, derived, tuple(quantities), _ms(sampling.get("average_s", 5)),
                           max(1, _ms(sampling.get("sample_period_s", 1))))
