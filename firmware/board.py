"""Pins and buses from the kit definition: the only module that touches pins.

`make_buses(kit)` reads kit["buses"], e.g.
    "uart_pm": {"type": "uart", "id": 2, "tx": 17, "rx": 16, "baudrate": 9600}
    "i2c_climate": {"type": "i2c", "id": 0, "scl": 22, "sda": 21, "freq": 100000}
    "i2s_mic": {"type": "i2s", "id": 0, "sck": 32, "ws": 25, "sd": 33, "rate": 16000, "ibuf": 12000}
and returns {"uart_pm": machine.UART(...), "i2c_climate": machine.I2C(...), "i2s_mic": machine.I2S(...)}.
An I2S bus receives 32-bit mono words (the microphones' 24-bit or 18-bit samples, left-justified);
`ibuf` (bytes, default 12000) is the driver's receive buffer, taken from the MicroPython heap on the
ESP32: at 16 kHz it holds 187 ms of sound, at 48 kHz 62 ms, the longest the reader may fall behind.
"""
import machine

_PIN_KEYS = {"uart": ("tx", "rx"), "i2c": ("scl", "sda"), "i2s": ("sck", "ws", "sd")}
_I2S_IBUF = 12000


_rates = {}  # id(machine.I2S) -> (sample rate, ibuf): the I2S object does not tell


def rate_of(bus):
    """The sample rate (Hz) an I2S bus was built with, or None for another kind of bus."""
    r = _rates.get(id(bus))
    return r[0] if r else None


def ibuf_of(bus):
    """The receive-buffer size (bytes) an I2S bus was built with (the default when unknown)."""
    r = _rates.get(id(bus))
    return r[1] if r else _I2S_IBUF


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


def uart(spec):
    """A UART from {"id", "tx", "rx", "baudrate"}: a sensor's bus, or a link's modem (the LoRaWAN link
    builds its own from cfg["lorawan"]["uart"]). timeout=0: reads never block; drivers poll any()."""
    return machine.UART(spec["id"], baudrate=spec.get("baudrate", 9600),
                        tx=machine.Pin(spec["tx"]), rx=machine.Pin(spec["rx"]), timeout=0)


def make_buses(kit):
    """Build every bus of the kit; return {bus name: machine.UART, machine.I2C or machine.I2S}."""
    _check_pins(kit)
    buses = {}
    for name, spec in kit["buses"].items():
        kind = spec.get("type")
        if kind == "uart":
            buses[name] = uart(spec)
        elif kind == "i2c":
            buses[name] = machine.I2C(spec["id"], scl=machine.Pin(spec["scl"]), sda=machine.Pin(spec["sda"]),
                                      freq=spec.get("freq", 100000))
        elif kind == "i2s":
            if "rate" not in spec:
                raise BoardError("kit %s: bus %s needs 'rate'" % (kit.get("id"), name))
            buses[name] = machine.I2S(spec["id"], sck=machine.Pin(spec["sck"]), ws=machine.Pin(spec["ws"]),
                                      sd=machine.Pin(spec["sd"]), mode=machine.I2S.RX, bits=32,
                                      format=machine.I2S.MONO, rate=spec["rate"],
                                      ibuf=spec.get("ibuf", _I2S_IBUF))
            _rates[id(buses[name])] = (int(spec["rate"]), int(spec.get("ibuf", _I2S_IBUF)))
        else:
            raise BoardError("kit %s: bus %s has type %r; known types: uart, i2c, i2s" % (kit.get("id"), name, kind))
    return buses
