"""Pins and buses from the kit definition: the only module that touches pins.

`make_buses(kit)` reads kit["buses"], e.g.
    "uart_pm": {"type": "uart", "id": 2, "tx": 17, "rx": 16, "baudrate": 9600}
    "i2c_climate": {"type": "i2c", "id": 0, "scl": 22, "sda": 21, "freq": 100000}
and returns {"uart_pm": machine.UART(...), "i2c_climate": machine.I2C(...)}.
"""
import machine

_PIN_KEYS = {"uart": ("tx", "rx"), "i2c": ("scl", "sda")}


class BoardError(ValueError):
    """The kit's bus section cannot be built; the message names the kit and the key to fix."""


def _check_pins(kit):
    used = {}
    for name in sorted(kit["buses"]):
        spec = kit["buses"][name]
        for key in _PIN_KEYS.get(spec.get("type"), ()):
            if key not in spec:
                raise BoardError("kit %s: bus %s needs '%s'" % (kit.get("id"), name, key))
            pin = spec[key]
            where = "%s.%s" % (name, key)
            if pin in used:
                raise BoardError("kit %s: pin %s used twice (%s, %s)" % (kit.get("id"), pin, used[pin], where))
            used[pin] = where


def make_buses(kit):
    """Build every bus of the kit; return {bus name: machine.UART or machine.I2C}."""
    _check_pins(kit)
    buses = {}
    for name, spec in kit["buses"].items():
        kind = spec.get("type")
        if kind == "uart":
            # timeout=0: reads never block; the drivers poll uart.any().
            buses[name] = machine.UART(spec["id"], baudrate=spec.get("baudrate", 9600),
                                       tx=machine.Pin(spec["tx"]), rx=machine.Pin(spec["rx"]), timeout=0)
        elif kind == "i2c":
            buses[name] = machine.I2C(spec["id"], scl=machine.Pin(spec["scl"]), sda=machine.Pin(spec["sda"]),
                                      freq=spec.get("freq", 100000))
        else:
            raise BoardError("kit %s: bus %s has type %r; known types: uart, i2c" % (kit.get("id"), name, kind))
    return buses
