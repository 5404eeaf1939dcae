"""Day-evening-night noise level Lden (EU Environmental Noise Directive 2002/49/EC, annex I).

Lden = 10 log10((12·10^(Ld/10) + 4·10^((Le+5)/10) + 8·10^((Ln+10)/10)) / 24), day 07-19, evening
19-23, night 23-07 local time (the directive's default periods, used in France). Check: 60/60/60 dB
gives 66.40 dB.
"""
from __future__ import annotations

import math
from datetime import datetime
from typing import Iterable


def lden(ld: float, le: float, ln: float) -> float:
    return 10.0 * math.log10(
        (12 * 10 ** (ld / 10.0) + 4 * 10 ** ((le + 5.0) / 10.0) + 8 * 10 ** ((ln + 10.0) / 10.0)) / 24.0
    )


def energy_mean(levels: Iterable[float]) -> float | None:
    """Energetic mean of equal-duration levels in dB: 10 log10(mean(10^(L/10)))."""
    total, n = 0.0, 0
    for level in levels:
        total += 10 ** (level / 10.0)
        n += 1
    return 10.0 * math.log10(total / n) if n else None


def period_of(local_time: datetime) -> str:
    """'day' (07-19), 'evening' (19-23) or 'night' (23-07) for a local wall-clock time."""
    h = local_time.hour
    if 7 <= h < 19:
        return "day"
    if 19 <= h < 23:
        return "evening"
    return "night"


def lden_from_samples(samples: Iterable[tuple[datetime, float]]) -> float | None:
    """Lden from (local time, LAeq over equal intervals) pairs covering about 24 hours.

    None unless every period (day, evening, night) has at least one sample: an Lden without a night
    would understate the penalty-weighted level."""
    by_period: dict[str, list[float]] = {"day": [], "evening": [], "night": []}
    for t, level in samples:
        by_period[period_of(t)].append(level)
    if not all(by_period.values()):
        return None
    return lden(*(energy_mean(by_period[p]) for p in ("day", "evening", "night")))
