"""Simulated ESP32 `machine` module for the MicroPython unix port (and CPython, for the fallback).

Placed first on the path, it stands in for the real `machine`. Buses are wired to chip models
according to `sim_hw.json` in the current directory (or the file named by $DCZ_SIM_HW):

    {
      "seed": 7, "lat": 44.84, "lon": -0.58,
      "uart": {"2": {"chip": "sds011", "period_s": 1.0, "faults": {"checksum_error_every": 0}}},
      "i2c": {"0": {"118": {"chip": "bme280", "faults": {}}}},
      "pins": {"0": 1}
    }

- "uart": UART id (string) -> device. Chips: "sds011" (see sds011_model.py for its options). A UART id
  not listed has nothing connected: reads give no bytes, writes vanish.
- "i2c": I2C id -> {decimal address -> device}. Chips: "bme280", "bme680" (register files: see
  bme280_model.py, bme680_model.py) and "sht3x", "sht4x" (command protocols: sht3x_model.py,
  sht4x_model.py). An address not listed does not ack: OSError(19) (ENODEV), as MicroPython raises on
  the ESP32. A register-file model has read(reg, buf, n) / write(reg, data); a command-protocol model
  has i2c_write(buf) / i2c_read(buf), and raises OSError(19) itself when it NACKs.
- "pins": input level of a pin (default: 1 with a pull-up, else 0), e.g. a safe-mode button.
- "seed", "lat", "lon": the simulated outdoors (sim_env.py); the seed also gives unique_id().
Without the file, or for a key the file leaves out: an air-outdoor-v1 set-up, a healthy SDS011 on
UART 2 and a BME280 on I2C 0 at 0x76 (so {"seed": 3} alone is a healthy kit; "uart": {} unplugs all).
"""
import json
import os
import time

import sim_env

_ENODEV = 19
_DEFAULT = {
    "seed": 7, "lat": 44.84, "lon": -0.58,
    "uart": {"2": {"chip": "sds011", "faults": {}}},
    "i2c": {"0": {"118": {"chip": "bme280", "faults": {}}}},
}
_config = None
_env = None


def config():
    """The simulated hardware description (read once)."""
    global _config, _env
    if _config is None:
        path = os.getenv("DCZ_SIM_HW") or "sim_hw.json"
        _config = dict(_DEFAULT)
        try:
            with open(path) as f:
                _config.update(json.load(f))  # a key left out keeps its default
        except OSError:
            pass
        _env = sim_env.Environment(_config.get("seed", 7), _config.get("lat", 44.84), _config.get("lon", -0.58))
    return _config


def environment():
    config()
    return _env


def _model(cfg):
    chip = cfg.get("chip")
    if chip == "sds011":
        import sds011_model
        return sds011_model.SDS011Model(environment(), cfg)
    if chip == "bme280":
        import bme280_model
        return bme280_model.BME280Model(environment(), cfg)
    if chip == "bme680":
        import bme680_model
        return bme680_model.BME680Model(environment(), cfg)
    if chip == "sht3x":
        import sht3x_model
        return sht3x_model.SHT3xModel(environment(), cfg)
    if chip == "sht4x":
        import sht4x_model
        return sht4x_model.SHT4xModel(environment(), cfg)
    raise ValueError("sim_hw.json: unknown chip %r" % (chip,))


# -- board ----------------------------------------------------------------------------------------

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
_freq = 240000000


def unique_id():
    """Six bytes like an ESP32's base MAC (Espressif OUI 24:0A:C4), fixed by the seed."""
    s = int(config().get("seed", 7))
    return bytes((0x24, 0x0A, 0xC4, (s * 0x9E) & 0xFF, (s >> 8) & 0xFF, (s * 0x35 + 0x5A) & 0xFF))


def reset():
    """A hard reset ends the simulated device's process; the runner may start it again."""
    raise SystemExit("machine.reset()")


soft_reset = reset


def reset_cause():
    return PWRON_RESET


def freq(hz=None):
    global _freq
    if hz is None:
        return _freq
    _freq = hz


def idle():
    pass


def lightsleep(ms=0):
    time.sleep(ms / 1000)


def deepsleep(ms=0):
    raise SystemExit("machine.deepsleep(%d)" % ms)


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


class WDT:
    """Watchdog: feeding is a no-op (the simulator's supervisor restarts a stuck process instead)."""

    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout

    def feed(self):
        pass


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self._mode = mode
        level = config().get("pins", {}).get(str(id))
        if level is None:
            level = 1 if pull == Pin.PULL_UP else 0
        self._value = level if value is None else value

    def init(self, mode=-1, pull=-1, value=None):
        if value is not None:
            self._value = value

    def value(self, v=None):
        if v is None:
            return self._value
        self._value = 1 if v else 0

    __call__ = value

    def on(self):
        self._value = 1

    def off(self):
        self._value = 0

    def irq(self, handler=None, trigger=3):
        return None

    def __repr__(self):
        return "Pin(%s)" % self.id


# -- buses ----------------------------------------------------------------------------------------

class UART:
    def __init__(self, id, baudrate=9600, bits=8, parity=None, stop=1, **kw):
        self.id = id
        self.baudrate = baudrate
        cfg = config().get("uart", {}).get(str(id))
        self.device = _model(cfg) if cfg else None

    def init(self, *args, **kw):
        pass

    def deinit(self):
        pass

    def any(self):
        return self.device.any() if self.device else 0

    def readinto(self, buf, nbytes=None):
        n = len(buf) if nbytes is None else nbytes
        if not self.device:
            return None
        got = self.device.read_into(buf, n)
        return got or None  # MicroPython returns None when nothing arrived before the timeout

    def read(self, nbytes=None):
        n = self.any() if nbytes is None else nbytes
        if not n:
            return None
        buf = bytearray(n)
        got = self.readinto(buf)
        return bytes(buf[:got]) if got else None

    def write(self, buf):
        if self.device:
            self.device.write(buf)
        return len(buf)

    def flush(self):
        pass

    def txdone(self):
        return True


class I2C:
    def __init__(self, id=0, scl=None, sda=None, freq=400000, timeout=50000):
        self.id = id
        self.freq = freq
        self.devices = {}
        for addr, cfg in config().get("i2c", {}).get(str(id), {}).items():
            self.devices[int(addr)] = _model(cfg)
        self._pointer = {}

    def _dev(self, addr):
        d = self.devices.get(addr)
        if d is None:
            raise OSError(_ENODEV)
        return d

    def scan(self):
        return sorted(self.devices)

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        self._dev(addr).read(memaddr, buf, len(buf))

    def readfrom_mem(self, addr, memaddr, nbytes, addrsize=8):
        buf = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, buf)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        self._dev(addr).write(memaddr, buf)

    def writeto(self, addr, buf, stop=True):
        d = self._dev(addr)
        if hasattr(d, "i2c_write"):  # command protocol (Sensirion): the model parses the bytes
            d.i2c_write(buf)
            return len(buf)
        if len(buf):
            self._pointer[addr] = buf[0]
            if len(buf) > 1:
                d.write(buf[0], buf[1:])
        return 1

    def readfrom_into(self, addr, buf, stop=True):
        d = self._dev(addr)
        if hasattr(d, "i2c_read"):
            d.i2c_read(buf)
            return
        d.read(self._pointer.get(addr, 0), buf, len(buf))

    def readfrom(self, addr, nbytes, stop=True):
        buf = bytearray(nbytes)
        self.readfrom_into(addr, buf)
        return bytes(buf)


SoftI2C = I2C
