"""Someone breathing on a sensor (the exhibition's demonstration): timing and strength, from sim_hw.json.

    "breath": {"every_s": 120, "offset_s": 30, "recovery_s": 20, "trigger_file": "breath",
               "gas_drop": 0.6, "humidity_rise": 20.0, "temperature_rise": 1.0}

A breath starts at each multiple of `every_s` (Unix time, shifted by `offset_s`; 0 or absent: never),
and whenever the file `trigger_file` (relative to the device's folder) is touched: its modification
time is the start. Its effect decays as exp(-age / recovery_s): exhaled air is humid, a little warm and
full of volatile organic compounds and CO2, so a metal-oxide gas sensor's resistance drops
(by `gas_drop`, a fraction, at the peak) and humidity and temperature rise.
"""
import math
import os


class Breath:
    def __init__(self, cfg):
        cfg = cfg or {}
        self.every_s = float(cfg.get("every_s", 0) or 0)
        self.offset_s = float(cfg.get("offset_s", 0) or 0)
        self.recovery_s = max(0.1, float(cfg.get("recovery_s", 20.0)))
        self.trigger_file = cfg.get("trigger_file")
        self.gas_drop = min(0.99, max(0.0, float(cfg.get("gas_drop", 0.6))))
        self.humidity_rise = float(cfg.get("humidity_rise", 20.0))
        self.temperature_rise = float(cfg.get("temperature_rise", 1.0))

    def _last_start(self, t):
        starts = []
        if self.every_s > 0:
            k = math.floor((t - self.offset_s) / self.every_s)
            starts.append(self.offset_s + k * self.every_s)
        if self.trigger_file:
            try:
                mtime = os.stat(self.trigger_file)[8]
            except OSError:
                mtime = None
            if mtime is not None and mtime <= t + 1:
                starts.append(mtime)
        return max(starts) if starts else None

    def strength(self, t):
        """0 (no breath) .. 1 (the moment someone breathes on the sensor)."""
        start = self._last_start(t)
        if start is None:
            return 0.0
        age = max(0.0, t - start)
        return math.exp(-age / self.recovery_s)
