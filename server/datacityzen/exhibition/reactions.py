""""Measure it yourself": spot the sudden change a visitor makes (a clap, a breath) in a kit's readings.

Each rule compares a new value with the device's baseline, the median of its last calm values (the
median, so one odd reading does not move it). A reading beyond the threshold is a reaction; while the
readings stay beyond it (a breath takes tens of seconds to clear from a gas sensor) no new reaction is
reported and they stay out of the baseline, unless they stay there for `history` readings in a row:
then the room itself changed (doors opened on a noisy hall) and they become the new baseline.
Pure Python, no I/O: the live feed calls it per reading.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from statistics import median


@dataclass(frozen=True)
class Rule:
    quantity: str
    kind: str  # what the visitor did: "clap" or "breath"
    mode: str  # "rise" (value - baseline, in the quantity's unit) or "drop" (fraction of the baseline)
    threshold: float


RULES = (
    # +10 dB: a sound about twice as loud (loudness doubles for every 10 phon, the sone scale of
    # ISO 532), far beyond the reading-to-reading spread of a steady hall; the figure.
    Rule("noise_lamax", "clap", "rise", 10.0),
    # -20 %: a metal-oxide gas sensor's resistance falls when breath (volatile organic compounds,
    # humidity) reaches it; clean-air drift is a few % over hours. The figure.
    Rule("gas_resistance", "breath", "drop", 0.20),
    # +5 %RH: exhaled air is near saturation, so a breath on a humidity sensor raises it well above
    # the reading-to-reading noise (0.1-0.5 %RH for the BME280/BME680, their datasheets' resolution).
    Rule("humidity", "breath", "rise", 5.0),
)


# Values travel rounded to a few decimals, so 60.12 - 50.12 is 9.999999...: a jump of exactly the
# threshold counts.
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Reaction:
    device: str
    quantity: str
    kind: str
    baseline: float
    value: float
    change: float  # dB or %RH for "rise" rules; a fraction (0.35 = 35 % lower) for "drop" rules

    def as_dict(self) -> dict:
        return {"quantity": self.quantity, "kind": self.kind, "baseline": self.baseline,
                "value": self.value, "change": self.change}


def change(rule: Rule, baseline: float, value: float) -> float:
    """How far `value` moved from `baseline` in the rule's direction (negative: the other way)."""
    if rule.mode == "rise":
        return value - baseline
    if rule.mode == "drop":
        return (baseline - value) / baseline if baseline > 0 else 0.0
    raise ValueError(f"rule mode {rule.mode!r} unknown; known: rise, drop")


class ReactionDetector:
    def __init__(self, rules=RULES, history: int = 6, min_history: int = 2):
        self.rules = {r.quantity: r for r in rules}
        self.history = history
        self.min_history = min_history
        self._calm: dict[tuple[str, str], deque] = {}
        self._beyond: dict[tuple[str, str], list[float]] = {}
        self._devices: set[str] = set()

    @property
    def quantities(self) -> list[str]:
        return list(self.rules)

    def knows(self, device: str) -> bool:
        return device in self._devices

    def seed(self, device: str, values: dict[str, list[float]]) -> None:
        """Start a device's baselines from its stored history (oldest first)."""
        self._devices.add(device)
        for quantity, series in values.items():
            if quantity in self.rules:
                calm = self._calm.setdefault((device, quantity), deque(maxlen=self.history))
                calm.extend(series[-self.history:])

    def observe(self, device: str, values: dict[str, float]) -> list[Reaction]:
        """The reactions a new reading of `device` shows (none, or one per rule that fired)."""
        self._devices.add(device)
        out = []
        for quantity, value in values.items():
            rule = self.rules.get(quantity)
            if rule is None:
                continue
            key = (device, quantity)
            calm = self._calm.setdefault(key, deque(maxlen=self.history))
            if len(calm) < self.min_history:
                calm.append(value)
                continue
            base = median(calm)
            moved = change(rule, base, value)
            if moved >= rule.threshold - _TOLERANCE:
                run = self._beyond.get(key)
                if run is None:
                    out.append(Reaction(device, quantity, rule.kind, base, value, moved))
                    self._beyond[key] = [value]
                else:
                    run.append(value)
                    if len(run) >= self.history:  # a lasting change: the new normal
                        calm.clear()
                        calm.extend(run)
                        del self._beyond[key]
            else:
                self._beyond.pop(key, None)
                calm.append(value)
        return out
