"""Simulated I2S MEMS microphones (INMP441, ICS-43434, SPH0645) hearing a configurable scene.

Config (the I2S bus id's entry in sim_hw.json "i2s"):
    {"chip": "inmp441" | "ics43434" | "sph0645",
     "scene": {"tone_hz": 1000, "tone_db": 70,         a sine at that level (dB SPL; 0/None = none)
               "noise_db": 55,                          white noise at that unweighted level (dB SPL)
               "clap": {"every_s": 10, "db": 105, "decay_ms": 30, "trigger_file": "clap"}},
                                                        a clap: a noise burst decaying exponentially,
                                                        every `every_s` s of stream time (0: never),
                                                        and whenever the file `trigger_file` (relative
                                                        to the device's folder) is touched
     "self_noise_db": null,     the microphone's own noise (default: its datasheet noise floor)
     "dc_offset": 0.0,          a constant offset as a fraction of full scale
     "quirk": true,             SPH0645 only: the one-bit late sampling an ESP32 shows (sph0645.py)
     "faults": {"unplugged": "zeros" | "ones"}}    no bit clock / no microphone: every word 0 or -1

Levels follow the microphones' sensitivity of -26 dBFS at 94 dB SPL: a sine at L dB SPL has an RMS
(L - 120) dB relative to a full-scale sine's (INMP441, ICS-43434, SPH0645 datasheets). What the
chips put on the line (their datasheets; drivers/*.py say the same):
- INMP441, ICS-43434: 24-bit two's complement left-justified in the 32-bit slot, the 8 bits after
  the LSB tri-stated (read as 0 here); codes saturate at +-2**23.
- SPH0645: 18-bit data in a 24-bit word (rest zero), codes saturate at +-2**17; with "quirk", the
  ESP32 reads every bit one clock late, so the word is the sample shifted left by one: the MSB is
  lost and a 0 follows the LSB.
The sound is made of integers only, so CPython and the MicroPython unix port give the same words.
"""
import math
import os
from array import array

_FS = 2147483648  # full scale of a 32-bit word
_SINE_TABLE_BITS = 10
_NOISE_FLOOR_DB = {"inmp441": 33.0, "ics43434": 29.0, "sph0645": 29.0}  # 94 dB - SNR (datasheets)
_BITS = {"inmp441": 24, "ics43434": 24, "sph0645": 18}


def _amplitude(db_spl):
    """Peak of a sine at db_spl, in units of 2**-31 full scale."""
    return int(_FS * 10 ** ((db_spl - 120.0) / 20.0))


class MicModel:
    def __init__(self, cfg, rate):
        chip = cfg.get("chip")
        if chip not in _BITS:
            raise ValueError("sim_hw.json: i2s chip %r unknown; known: inmp441, ics43434, sph0645" % (chip,))
        self.chip = chip
        self.rate = int(rate)
        self.bits = _BITS[chip]
        scene = cfg.get("scene") or {}
        self.tone_hz = float(scene.get("tone_hz") or 0)
        self.tone_amp = _amplitude(scene["tone_db"]) if scene.get("tone_db") and self.tone_hz else 0
        self.noise_amp = self._noise_amp(scene.get("noise_db"))
        floor = cfg.get("self_noise_db")
        self.floor_amp = self._noise_amp(_NOISE_FLOOR_DB[chip] if floor is None else floor)
        clap = scene.get("clap") or {}
        self.clap_every = int(float(clap.get("every_s", 0)) * self.rate)
        self.clap_amp = self._noise_amp(clap.get("db", 105))
        # Someone claps on demand (the exhibition's "measure it yourself"): touching the file makes a
        # clap half a second after the next block the firmware reads, so it falls inside a measuring
        # window, past the sensor's drain and 250 ms settling. A file there at start does not count.
        self.clap_trigger = clap.get("trigger_file")
        self._trigger_mtime = None
        self._clap_at = -1
        if self.clap_trigger:
            self._touched()
        decay = float(clap.get("decay_ms", 30)) / 1000.0
        # amplitude factor per sample, Q16: exp(-1 / (decay * rate))
        on = self.clap_every or self.clap_trigger
        self.clap_decay = int(65536 * math.exp(-1.0 / (decay * self.rate))) if on else 0
        self.dc = int(float(cfg.get("dc_offset", 0.0)) * _FS)
        self.quirk = bool(cfg.get("quirk", True)) and chip == "sph0645"
        self.unplugged = (cfg.get("faults") or {}).get("unplugged")
        n = 1 << _SINE_TABLE_BITS
        # Only with a tone: 2 KB as array('h'), built in place (a list of ints took 8 KB of one piece
        # of the shared heap on a 64-bit unix port, plus its growth and floats while built).
        self._sine = array("h", bytes(2 * n)) if self.tone_amp else None
        for i in range(n if self.tone_amp else 0):
            self._sine[i] = int(32767 * math.sin(2 * math.pi * i / n))
        # phase in units of 2**-32 of a cycle
        self._step = int(self.tone_hz / self.rate * 4294967296.0) & 0xFFFFFFFF
        self._phase = 0
        self._rng = 0x2545F491
        self._clap_env = 0
        self.produced = 0  # samples generated since the stream started

    def _touched(self):
        """True when the trigger file was touched since the last look (once per block read)."""
        try:
            m = os.stat(self.clap_trigger)[8]
        except OSError:
            m = None
        touched = m is not None and m != self._trigger_mtime
        self._trigger_mtime = m
        return touched

    @staticmethod
    def _noise_amp(db_spl):
        """Half-range of uniform white noise whose RMS equals a sine's at db_spl: a * sqrt(1/3)
        = A / sqrt(2), so a = A * sqrt(3/2)."""
        if db_spl is None:
            return 0
        return int(_amplitude(db_spl) * 1.2247449)

    def _uniform(self):
        """Uniform integer in [-2**15, 2**15) from a 32-bit xorshift."""
        x = self._rng
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self._rng = x
        return (x >> 16) - 32768

    def _pressure(self):
        """The next sample of the scene, in units of 2**-31 full scale (may exceed it)."""
        v = self.dc
        if self.tone_amp:
            v += (self.tone_amp * self._sine[self._phase >> (32 - _SINE_TABLE_BITS)]) // 32767
            self._phase = (self._phase + self._step) & 0xFFFFFFFF
        if self.noise_amp:
            v += (self.noise_amp * self._uniform()) >> 15
        if self.floor_amp:
            v += (self.floor_amp * self._uniform()) >> 15
        if (self.clap_every and self.produced % self.clap_every == self.clap_every // 2) or \
                self.produced == self._clap_at:
            self._clap_env = self.clap_amp
        if self._clap_env:
            v += (self._clap_env * self._uniform()) >> 15
            self._clap_env = (self._clap_env * self.clap_decay) >> 16
        return v

    def skip(self, n):
        """Let n samples go by unread (the receive buffer overflowed)."""
        self.produced += n
        self._phase = (self._phase + self._step * n) & 0xFFFFFFFF
        self._clap_env = 0

    def word(self):
        """The next 32-bit word as the ESP32 receives it (a signed int)."""
        if self.unplugged:
            self.produced += 1
            return -1 if self.unplugged == "ones" else 0
        p = self._pressure()
        self.produced += 1
        shift = 32 - self.bits
        code = p >> shift
        top = (1 << (self.bits - 1)) - 1
        if code > top:
            code = top
        elif code < -top - 1:
            code = -top - 1
        if self.quirk:
            w = (code << (shift + 1)) & 0xFFFFFFFF  # one bit late: MSB lost, a 0 after the LSB
        else:
            w = (code << shift) & 0xFFFFFFFF
        return w - 0x100000000 if w & 0x80000000 else w

    def fill(self, buf, start, nwords, itemsize):
        """Write nwords words into buf from word `start`: as little-endian bytes when itemsize is 1
        (a bytearray), else one signed word per item (an array('i'))."""
        if self.clap_trigger and self._touched():
            self._clap_at = self.produced + self.rate // 2
        if itemsize == 1:
            for i in range(start, start + nwords):
                w = self.word() & 0xFFFFFFFF
                j = 4 * i
                buf[j] = w & 0xFF
                buf[j + 1] = (w >> 8) & 0xFF
                buf[j + 2] = (w >> 16) & 0xFF
                buf[j + 3] = w >> 24
        else:
            for i in range(start, start + nwords):
                buf[i] = self.word()
