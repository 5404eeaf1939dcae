"""Simulated ESP32 `machine` module for the MicroPython unix port (and CPython, for the fallback).

Placed first on the path, it stands in for the real `machine`. Buses are wired to chip models
according to `sim_hw.json` in the current directory (or the file named by $DCZ_SIM_HW):

    {
      "seed": 7, "lat": 44.84, "lon": -0.58,
      "uart": {"2": {"chip": "sds011", "period_s": 1.0, "faults": {"checksum_error_every": 0}}},
      "i2c": {"0": {"118": {"chip": "bme280", "faults": {}}}},
      "pins": {"0": 1}
    }

- "uart": UART id (string) -> device. Chips: "sds011", "pms5003", "pms7003" (see sds011_model.py and
  pms5003_model.py for their options), the modems "sim800" and "sim7080g" (at_modem_model.py; a
  device.json with the cellular link gets its modem on its cellular.uart, and "modem": {...} here
  sets the modem's faults). A UART id not listed has nothing connected: reads give no
  bytes, writes vanish.
- "i2c": I2C id -> {decimal address -> device}. Chips: "bme280", "sps30" (see bme280_model.py and
  sps30_model.py), and any chip NAME with a NAME_model.py defining `Model` ("bme680", "sht3x",
  "sht4x"). An address not listed does not ack: OSError(19) (ENODEV), as MicroPython raises
  on the ESP32. Register-file chips (bme280) take 8-bit register pointers; chips with a transaction
  model (sps30: 16-bit commands) get each writeto/readfrom_into whole.
- "i2s": I2S id -> microphone (see i2s_model.py: "inmp441", "ics43434", "sph0645", a sound scene,
  faults). An id not listed has nothing on its data line: every word reads 0.
- "lorawan": {"uart": 1, "ns": [host, port], ...}: a LoRa-E5 modem on that UART (lora_e5_model.py).
- "pins": input level of a pin (default: 1 with a pull-up, else 0), e.g. a safe-mode button.
- "clock", "ntp": the RTC and the NTP server (time.py, ntptime.py). A device whose link is not Wi-Fi
  (link(): device.json, else kit.json) has no IP route of its own: NTP never answers it, and its clock
  starts unset (2000-01-01) unless "clock" says otherwise; the modem models give it the network's time.
- "seed", "lat", "lon": the simulated outdoors (sim_env.py); the seed also gives unique_id().
Without the file, or for a key the file leaves out: a healthy chip for each sensor of the kit in
`kit.json` (the device's flash folder; the variant device.json picks, if any) that has a model here, on the kit's bus ids and addresses;
without kit.json, an air-outdoor-v1 set-up: an SDS011 on UART 2 and a BME280 on I2C 0 at 0x76 (so
{"seed": 3} alone is a healthy kit; "uart": {} unplugs all).
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


# Sensor type -> (chip model name, default I2C address or None for UART chips).
_CHIPS = {"sds011": ("sds011", None), "pms5003": ("pms5003", None), "pms7003": ("pms7003", None),
          "bme280": ("bme280", 0x76), "sps30": ("sps30", 0x69),
          "inmp441": ("inmp441", None), "ics43434": ("ics43434", None), "sph0645": ("sph0645", None)}


def _from_kit(path="kit.json"):
    """The healthy hardware a kit describes, for the chips modelled here; None without kit.json."""
    try:
        with open(path) as f:
            kit = json.load(f)
    except (OSError, ValueError):
        return None
    try:
        with open("device.json") as f:
            device = json.load(f)
    except (OSError, ValueError):
        device = {}
    variant = device.get("variant")  # the variant the device picked (config.py)
    chosen = (kit.get("variants") or {}).get(variant) or {}
    for key in ("buses", "sensors"):
        if key in chosen:
            kit[key] = chosen[key]
    uart = {}
    i2c = {}
    i2s = {}
    buses = kit.get("buses") or {}
    for entry in kit.get("sensors") or ():
        chip = _CHIPS.get(entry.get("type"))
        if chip is None and "address" in entry:
            chip = (entry["type"], entry["address"])  # an I2C chip modelled by convention, if any
        bus = buses.get(entry.get("bus")) or {}
        if chip is None or "id" not in bus:
            continue
        if bus.get("type") == "uart":
            uart[str(bus["id"])] = {"chip": chip[0], "faults": {}}
        elif bus.get("type") == "i2c":
            addr = entry.get("address", chip[1])
            i2c.setdefault(str(bus["id"]), {})[str(addr)] = {"chip": chip[0], "faults": {}, "kit": 1}
        elif bus.get("type") == "i2s":
            i2s[str(bus["id"])] = {"chip": chip[0], "faults": {}}
    cell = device.get("cellular") or {}
    if (device.get("transport") or kit.get("transport") or {}).get("link") == "cellular":
        # the cellular link's modem (sim800_model.py, sim7080g_model.py), on the UART device.json names
        uart[str(cell.get("uart", 1))] = {"chip": cell.get("modem", "sim7080g"), "faults": {}}
    return {"uart": uart, "i2c": i2c, "i2s": i2s}


_link = None


def link():
    """The device's transport link ("wifi", "cellular", "lorawan"), as config.py picks it: device.json's
    transport.link, else the kit's, else Wi-Fi."""
    global _link
    if _link is None:
        _link = "wifi"
        for path in ("kit.json", "device.json"):  # the device's choice last: it wins
            try:
                with open(path) as f:
                    _link = (json.load(f).get("transport") or {}).get("link") or _link
            except (OSError, ValueError, AttributeError):
                pass
    return _link


def config():
    """The simulated hardware description (read once)."""
    global _config, _env
    if _config is None:
        path = os.getenv("DCZ_SIM_HW") or "sim_hw.json"
        _config = dict(_DEFAULT)
        kit_hw = _from_kit()
        if kit_hw is not None:
            _config.update(kit_hw)
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
    if chip in ("pms5003", "pms7003"):
        import pms5003_model
        return pms5003_model.PMS5003Model(environment(), cfg)
    if chip == "sps30":
        import sps30_model
        return sps30_model.SPS30Model(environment(), cfg)
    # Other chips by convention, NAME_model.Model: two qstrs here, not three per chip (the
    # simulator's heap allowance for its hardware is tight). A kit's chip without a model: nothing.
    try:
        return __import__(chip + "_model").Model(environment(), cfg)
    except ImportError:
        if not cfg.get("kit"):  # a typo in sim_hw.json must show
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


def _unix(y, mo, d, h, mi, s):
    if mo <= 2:
        y -= 1
        mo += 12
    return (365 * y + y // 4 - y // 100 + y // 400 + (153 * (mo - 3) + 2) // 5 + d - 719469) * 86400 \
        + h * 3600 + mi * 60 + s


class RTC:
    """The ESP32's real-time clock: datetime((year, month, day, weekday, hours, minutes, seconds,
    subseconds)) sets it (UTC), as the firmware does from the link's time; datetime() reads it."""

    def datetime(self, dt=None):
        if dt is None:
            t = time.gmtime()
            return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)
        if hasattr(time, "set_clock"):  # the simulated RTC (time.py)
            time.set_clock(_unix(dt[0], dt[1], dt[2], dt[4], dt[5], dt[6]) - int(time.real_time()))
        return None


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
        lw = config().get("lorawan")  # the LoRa-E5 modem of the LoRaWAN link (lora_e5_model.py)
        if cfg is None and lw and str(lw.get("uart")) == str(id):
            cfg = dict(lw, chip="lora_e5")
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
            d = _model(cfg)
            if d is not None:
                self.devices[int(addr)] = d
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
        if hasattr(d, "i2c_write"):
            d.i2c_write(bytes(buf))
            return 1
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


class I2S:
    """machine.I2S in receive mode, fed by a simulated microphone (i2s_model.py) in real time.

    Samples arrive at `rate` per second from construction on, into a buffer of `ibuf` bytes (the
    ESP32 driver's DMA and ring buffer); when the program reads too slowly the oldest samples are
    lost. As on the ESP32 (MicroPython docs, machine.I2S):
    - blocking (the default): readinto(buf) waits until buf is full, returns len(buf) in bytes;
    - non-blocking (after irq(handler)): readinto returns at once; buf is filled as the samples
      arrive and handler(i2s) is then called (scheduled), like an interrupt;
    - asyncio: ioctl(MP_STREAM_POLL) reports data ready, after which readinto copies what is there.
    Only what the firmware uses is modelled: mode RX, bits 32, format MONO.
    """
    RX = 0
    TX = 1
    MONO = 0
    STEREO = 1
    _POLL = 3
    _POLL_RD = 1

    def __init__(self, id, sck=None, ws=None, sd=None, mode=0, bits=32, format=0, rate=16000, ibuf=20000):
        if mode != I2S.RX or bits != 32 or format != I2S.MONO:
            raise ValueError("simulated I2S models only mode=RX, bits=32, format=MONO")
        import i2s_model

        self.id = id
        self.rate = int(rate)
        self.ibuf = int(ibuf)
        cfg = config().get("i2s", {}).get(str(id)) or {"chip": "inmp441", "faults": {"unplugged": "zeros"}}
        self.device = i2s_model.MicModel(cfg, self.rate)
        self._t0 = time.ticks_us() if hasattr(time, "ticks_us") else int(time.time() * 1e6)
        self._consumed = 0
        self.lost = 0  # samples dropped because the reader fell behind (for tests)
        self._handler = None
        self._asyncio = False

    def _now_us(self):
        if hasattr(time, "ticks_us"):
            return time.ticks_diff(time.ticks_us(), self._t0)
        return int(time.time() * 1e6) - self._t0

    def _arrived(self):
        return self._now_us() * self.rate // 1000000

    def _available(self):
        """Words waiting in the receive buffer (dropping what overflowed it)."""
        n = self._arrived() - self._consumed
        cap = self.ibuf // 4
        if n > cap:
            self.device.skip(n - cap)
            self.lost += n - cap
            self._consumed += n - cap
            n = cap
        return n

    @staticmethod
    def _layout(buf):
        try:
            itemsize = buf.itemsize
        except AttributeError:
            itemsize = 1 if isinstance(buf, (bytearray, bytes)) else 4
        return itemsize, len(buf) * itemsize // 4

    def _fill(self, buf, itemsize, start, words):
        self.device.fill(buf, start, words, itemsize)
        self._consumed += words

    def _read_all(self, buf, itemsize, words):
        """Copy samples into buf as they arrive until it is full (the blocking copy loop)."""
        done = 0
        while done < words:
            take = min(self._available(), words - done)
            if take > 0:
                self._fill(buf, itemsize, done, take)
                done += take
            else:
                time.sleep(min(words - done, self.ibuf // 8) / self.rate)

    def readinto(self, buf):
        itemsize, words = self._layout(buf)
        if self._handler is not None:
            self._start_non_blocking(buf, itemsize, words)
            return words * 4
        if self._asyncio:
            words = min(words, self._available())
            self._fill(buf, itemsize, 0, words)
            return words * 4
        self._read_all(buf, itemsize, words)
        return words * 4

    def _start_non_blocking(self, buf, itemsize, words):
        def finish():
            self._read_all(buf, itemsize, words)
            handler = self._handler
            try:
                import micropython

                micropython.schedule(handler, self)
            except (ImportError, AttributeError, RuntimeError):
                handler(self)

        try:
            import _thread

            _thread.start_new_thread(finish, ())
        except ImportError:
            finish()

    def irq(self, handler):
        """Set the callback for non-blocking reads (None: back to blocking)."""
        self._handler = handler

    def ioctl(self, req, arg):
        if req == I2S._POLL:
            self._asyncio = True
            return arg & I2S._POLL_RD if self._available() > 0 else 0
        return 0

    def deinit(self):
        self._consumed = self._arrived()

    @staticmethod
    def shift(buf=None, bits=16, shift=0):
        raise NotImplementedError("I2S.shift is not modelled")
