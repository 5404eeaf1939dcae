"""The public location: a fixed grid of cells at least `precision_m` on a side, shown at the centre."""
import pytest
from hypothesis import assume, given, strategies as st

from datacityzen import privacy

lats = st.floats(-85, 85)
lons = st.floats(-180, 180)
precisions = st.sampled_from([100, 250, 500, 1000, 5000])


@given(lats, lons, precisions)
def test_snapped_point_is_inside_the_cell_near_the_point(lat, lon, p):
    slat, slon = privacy.snap(lat, lon, p)
    # the centre is at most half a cell diagonal away (cells are p tall and < 2p wide away from the poles)
    assert privacy.distance_m(lat, lon, slat, slon) <= p * 1.2
    assert privacy.cell_of(slat, slon, p) == privacy.cell_of(lat, lon, p)


@given(lats, lons, precisions)
def test_snapping_is_idempotent(lat, lon, p):
    once = privacy.snap(lat, lon, p)
    assert privacy.snap(*once, p) == once


@given(lats, lons, precisions, st.floats(-1, 1), st.floats(-1, 1))
def test_every_point_of_a_cell_gives_the_same_public_location(lat, lon, p, dy, dx):
    """The published point reveals the cell and nothing more: other points of the cell map to it."""
    other = (lat + dy * p / privacy.METRES_PER_DEGREE, lon + dx * p / privacy.METRES_PER_DEGREE)
    assume(-85 <= other[0] <= 85 and -180 <= other[1] <= 180)
    if privacy.cell_of(*other, p) == privacy.cell_of(lat, lon, p):
        assert privacy.snap(*other, p) == privacy.snap(lat, lon, p)
    else:
        assert privacy.snap(*other, p) != privacy.snap(lat, lon, p)


@given(lats, lons, precisions)
def test_cells_are_at_least_precision_wide_and_tall(lat, lon, p):
    row, col = privacy.cell_of(lat, lon, p)
    dlat = p / privacy.METRES_PER_DEGREE
    south = -90 + row * dlat
    columns = privacy._columns(row, dlat, p)
    width_deg = 360 / columns
    poleward = max(abs(south), abs(south + dlat))
    # the narrowest edge of the cell, along its poleward parallel
    assert privacy.distance_m(poleward, 0, poleward, width_deg) >= p * 0.999
    assert privacy.distance_m(south, 0, south + dlat, 0) == pytest.approx(p, rel=1e-6)


def test_exact_location_only_when_the_host_opts_in():
    assert privacy.snap(44.84123, -0.57971, privacy.EXACT) == (44.84123, -0.57971)
    assert privacy.snap(44.84123, -0.57971, 100) != (44.84123, -0.57971)


@pytest.mark.parametrize("p", [1, 50, 99, -100])
def test_cells_smaller_than_100_m_are_refused(p):
    with pytest.raises(ValueError):
        privacy.snap(44.8, -0.6, p)


@pytest.mark.parametrize("lat,lon", [(91, 0), (0, 181), (float("nan"), 0)])
def test_impossible_locations_are_refused(lat, lon):
    with pytest.raises(ValueError):
        privacy.snap(lat, lon, 100)


def test_grid_is_fixed_known_value():
    """The grid depends on nothing but the precision: Bordeaux lands on the same centres everywhere
    and at every run (values computed once from the definition in privacy.py)."""
    assert privacy.snap(44.8412, -0.5797, 500) == (44.841847, -0.5771162)
    assert privacy.snap(44.8412, -0.5797, 100) == (44.8409477, -0.5802606)
