"""Where a device is shown publicly: its exact location snapped to the centre of a fixed grid cell.

The grid is the same for everyone and never moves (it does not depend on the point, the time or the
device), so publishing the snapped point again and again reveals nothing more than the cell. Cells are
`precision_m` metres tall and at least `precision_m` metres wide:

- rows are bands of latitude `precision_m / M` degrees tall, M = 111 195 m per degree of a meridian
  on the mean Earth sphere (radius 6 371 008.8 m, IUGG mean radius);
- within a row, columns are `precision_m / (M cos φp)` degrees of longitude wide, φp being the row's
  poleward edge, so even the narrowest part of a cell is `precision_m` wide; near the poles a row is
  one cell all the way round.

`precision_m` is at least 100 m; 0 means the host opted in to showing the exact location.
"""
from __future__ import annotations

import math

METRES_PER_DEGREE = 6_371_008.8 * math.pi / 180.0  # ≈ 111 195 m, mean Earth radius (IUGG)
MIN_PRECISION_M = 100
EXACT = 0
# What the host can choose on their page (metres; 0 = exact, which they must opt in to).
PRECISION_CHOICES = (EXACT, 100, 500, 1000, 5000)
DEFAULT_PRECISION_M = 500


def check_precision(precision_m: int) -> int:
    if precision_m != EXACT and precision_m < MIN_PRECISION_M:
        raise ValueError(
            f"location precision {precision_m} m: use 0 (exact, opt-in) or at least {MIN_PRECISION_M} m"
        )
    return int(precision_m)


def check_location(lat: float, lon: float) -> None:
    if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
        raise ValueError(f"latitude {lat!r} must be between -90 and 90")
    if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
        raise ValueError(f"longitude {lon!r} must be between -180 and 180")


def cell_of(lat: float, lon: float, precision_m: int) -> tuple[int, int]:
    """(row, column) of the grid cell holding the point."""
    dlat = precision_m / METRES_PER_DEGREE
    row = math.floor((lat + 90.0) / dlat)
    row = min(row, math.floor(180.0 / dlat))  # the north pole belongs to the last row
    columns = _columns(row, dlat, precision_m)
    col = math.floor((lon + 180.0) / (360.0 / columns)) % columns
    return row, col


def _columns(row: int, dlat: float, precision_m: int) -> int:
    south = -90.0 + row * dlat
    north = min(90.0, south + dlat)
    poleward = max(abs(south), abs(north))
    width_m = 360.0 * METRES_PER_DEGREE * math.cos(math.radians(min(poleward, 90.0)))
    return max(1, math.floor(width_m / precision_m))


def snap(lat: float, lon: float, precision_m: int) -> tuple[float, float]:
    """The public location: the centre of the point's cell (or the point itself when precision is 0)."""
    check_location(lat, lon)
    precision_m = check_precision(precision_m)
    if precision_m == EXACT:
        return lat, lon
    dlat = precision_m / METRES_PER_DEGREE
    row, col = cell_of(lat, lon, precision_m)
    columns = _columns(row, dlat, precision_m)
    south = -90.0 + row * dlat
    north = min(90.0, south + dlat)
    centre_lat = (south + north) / 2.0
    centre_lon = -180.0 + (col + 0.5) * 360.0 / columns
    return round(centre_lat, 7), round(centre_lon, 7)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance on the mean Earth sphere (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(a)))
