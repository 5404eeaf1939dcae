"""A kit's past in the wire format: uplink payloads for a period, from the simulated outdoors.

For demos, the host-view tests and the benchmark: weeks of readings are published in seconds instead
of being measured in real time. Values come from `sim/hw/sim_env.py` (the same Bordeaux climate the
simulated chips measure), noise from a plain day/night street model. Payloads are valid wire-format
v1 uplinks (at most 100 readings each), so they go through the real broker and the real ingest.
"""
from __future__ import annotations

import json
import math
from typing import Iterator

from .hw.sim_env import Environment, smooth

QUANTITIES_AIR = ("pm2_5", "pm10", "temperature", "humidity", "pressure")


def noise_laeq(seed: int, t: float) -> float:
    """A street-facing balcony: about 58 dB(A) by day, 46 at night, with slow random variation."""
    h = (t % 86400.0) / 3600.0
    day = 0.5 - 0.5 * math.cos(2 * math.pi * (h - 3.0) / 24.0)  # 0 at 3 h, 1 at 15 h
    return 46.0 + 12.0 * day + 2.0 * smooth(seed, 20, t / 600.0)


def readings(device_seed: int, start: float, end: float, interval_s: float, quantities=QUANTITIES_AIR,
             first_seq: int = 0) -> Iterator[dict]:
    env = Environment(seed=device_seed)
    seq, t = first_seq, float(start)
    while t < end:
        values = {}
        pm25, pm10 = env.pm(t)
        source = {"pm2_5": pm25, "pm10": pm10, "temperature": env.temperature(t), "humidity": env.humidity(t),
                  "pressure": env.pressure(t), "noise_laeq": noise_laeq(device_seed, t)}
        for q in quantities:
            values[q] = round(source[q], 2)
        yield {"seq": seq, "time": int(t), "values": values}
        seq += 1
        t += interval_s


def uplinks(device: str, kit: str, start: float, end: float, interval_s: float = 145.0, seed: int = 7,
            quantities=QUANTITIES_AIR, batch: int = 100, first_seq: int = 0) -> Iterator[tuple[str, bytes]]:
    """(topic, payload) pairs covering [start, end)."""
    chunk: list[dict] = []
    for r in readings(seed, start, end, interval_s, quantities, first_seq):
        chunk.append(r)
        if len(chunk) == batch:
            yield _message(device, kit, chunk)
            chunk = []
    if chunk:
        yield _message(device, kit, chunk)


def _message(device: str, kit: str, chunk: list[dict]) -> tuple[str, bytes]:
    payload = {"version": 1, "device": device, "kit": kit, "firmware": "sim-history", "readings": chunk}
    return f"dcz/v1/{device}/up", json.dumps(payload, separators=(",", ":")).encode()
