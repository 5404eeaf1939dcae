"""Derived numbers against the published check values (shared/guide/reference.md) and properties."""
import math
from datetime import datetime, timedelta

import pytest
from hypothesis import given, strategies as st

from datacityzen.derived import air_indices, noise, weather


# -- local weather -----------------------------------------------------------------------------
def test_dew_point_magnus_sonntag_check_value():
    assert weather.dew_point(25.0, 60.0) == pytest.approx(16.69, abs=0.005)


@pytest.mark.parametrize("t,rh,expected", [(32.0, 70.0, 40.41), (30.0, 50.0, 31.05)])
def test_heat_index_nws_check_values(t, rh, expected):
    assert weather.heat_index(t, rh) == pytest.approx(expected, abs=0.005)


def test_heat_index_low_humidity_adjustment_lowers_the_regression():
    # 38 °C (100.4 °F), 10 % RH: NWS subtracts ((13-RH)/4)·sqrt((17-|T-95|)/17) °F from the regression.
    t_f, rh = 38.0 * 9 / 5 + 32, 10.0
    reg = (-42.379 + 2.04901523 * t_f + 10.14333127 * rh - 0.22475541 * t_f * rh - 0.00683783 * t_f ** 2
           - 0.05481717 * rh ** 2 + 0.00122874 * t_f ** 2 * rh + 0.00085282 * t_f * rh ** 2
           - 0.00000199 * t_f ** 2 * rh ** 2)
    adj = (13 - rh) / 4 * math.sqrt((17 - abs(t_f - 95)) / 17)
    assert weather.heat_index(38.0, rh) == pytest.approx((reg - adj - 32) * 5 / 9, abs=1e-9)


def test_humidex_environment_canada_example():
    rh = 100 * math.exp(17.62 * 15 / (243.12 + 15) - 17.62 * 30 / (243.12 + 30))  # dew point 15 °C at 30 °C
    assert round(weather.humidex(30.0, rh)) == 34


def test_sea_level_pressure_check_value():
    assert weather.sea_level_pressure(1000.0, 250.0, 15.0) == pytest.approx(1030.0, abs=0.05)


@given(st.floats(-30, 45), st.floats(1, 100))
def test_dew_point_never_above_temperature(t, rh):
    assert weather.dew_point(t, rh) <= t + 1e-9


@given(st.floats(-30, 45), st.floats(1, 99))
def test_dew_point_rises_with_humidity(t, rh):
    assert weather.dew_point(t, rh + 1) > weather.dew_point(t, rh)


@given(st.floats(800, 1100), st.floats(1, 2000), st.floats(-20, 40))
def test_sea_level_pressure_is_above_station_pressure_above_sea_level(p, h, t):
    assert weather.sea_level_pressure(p, h, t) > p
    assert weather.sea_level_pressure(p, 0.0, t) == p


def test_dew_point_rejects_impossible_humidity():
    with pytest.raises(ValueError):
        weather.dew_point(20.0, 0.0)


@pytest.mark.parametrize("change,trend", [(-1.7, "falling"), (-1.6, "steady"), (0.0, "steady"), (1.6, "steady"),
                                          (1.61, "rising")])
def test_pressure_trend_threshold_is_1_6_hpa(change, trend):
    assert weather.pressure_trend(change) == trend


@pytest.mark.parametrize("p,change,z,letter", [
    (1000.0, -3.0, 7, "U"),    # 127 - 0.12·1000 = 7
    (1013.0, 0.0, 12, "E"),    # 144 - 0.13·1013 = 12.31
    (1030.0, 2.0, 20, "A"),    # 185 - 0.16·1030 = 20.2
    (990.0, 2.0, 27, "L"),     # 185 - 0.16·990 = 26.6 -> 27
    (1050.0, -2.0, 1, "A"),    # 127 - 126 = 1
    (960.0, 0.0, 19, "Z"),     # 144 - 124.8 = 19.2
])
def test_zambretti_numbers_and_letters(p, change, z, letter):
    assert weather.zambretti(p, change) == (z, letter)


@given(st.floats(900, 1100), st.floats(-10, 10))
def test_zambretti_always_gives_one_of_the_26_letters(p, change):
    z, letter = weather.zambretti(p, change)
    assert 1 <= z <= 32 and letter in weather.FORECASTS
    assert weather.forecast_text(letter, "fr") and weather.forecast_text(letter, "en")


# -- air quality indices --------------------------------------------------------------------------
@pytest.mark.parametrize("c,aqi", [(9.0, 50), (9.1, 51), (35.4, 100), (55.5, 151), (325.4, 500), (0.0, 0)])
def test_us_aqi_pm25_check_values(c, aqi):
    assert air_indices.us_aqi("pm2_5", c) == aqi


@pytest.mark.parametrize("c,aqi", [(54, 50), (55, 51), (154, 100), (155, 101), (604, 500)])
def test_us_aqi_pm10_breakpoints(c, aqi):
    assert air_indices.us_aqi("pm10", c) == aqi


@given(st.floats(0, 325.4), st.floats(0, 325.4))
def test_us_aqi_is_monotonic(a, b):
    lo, hi = sorted((a, b))
    assert air_indices.us_aqi("pm2_5", lo) <= air_indices.us_aqi("pm2_5", hi)


@pytest.mark.parametrize("q,c,level", [
    ("pm2_5", 10, 0), ("pm2_5", 10.1, 1), ("pm2_5", 20, 1), ("pm2_5", 25, 2), ("pm2_5", 50, 3), ("pm2_5", 75, 4),
    ("pm2_5", 75.1, 5), ("pm10", 20, 0), ("pm10", 40, 1), ("pm10", 50, 2), ("pm10", 100, 3), ("pm10", 150, 4),
    ("pm10", 151, 5),
])
def test_european_index_bands_2021(q, c, level):
    assert air_indices.eu_index(q, c) == level


@pytest.mark.parametrize("q,c,label", [
    ("pm2_5", 10.4, "bon"), ("pm2_5", 10.6, "moyen"), ("pm2_5", 21, "degrade"), ("pm2_5", 26, "mauvais"),
    ("pm2_5", 51, "tres_mauvais"), ("pm2_5", 76, "extremement_mauvais"), ("pm10", 20.4, "bon"),
    ("pm10", 41, "degrade"), ("pm10", 151, "extremement_mauvais"),
])
def test_atmo_labels_on_integer_bands(q, c, label):
    assert air_indices.ATMO_LEVELS[air_indices.atmo_index(q, c)][0] == label


def test_atmo_french_labels_match_the_arrete():
    assert [fr for _, _, fr in air_indices.ATMO_LEVELS] == [
        "Bon", "Moyen", "Dégradé", "Mauvais", "Très mauvais", "Extrêmement mauvais"]


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_indices_reject_impossible_concentrations(bad):
    for f in (air_indices.eu_index, air_indices.atmo_index, air_indices.us_aqi):
        with pytest.raises(ValueError):
            f("pm2_5", bad)


# -- noise ---------------------------------------------------------------------------------------------
def test_lden_check_value():
    assert noise.lden(60, 60, 60) == pytest.approx(66.40, abs=0.005)


def test_lden_from_samples_uses_local_day_evening_night():
    day0 = datetime(2026, 11, 23)
    samples = [(day0 + timedelta(minutes=10 * i), 0.0) for i in range(144)]
    samples = [(t, 60.0 if 7 <= t.hour < 19 else 50.0 if 19 <= t.hour < 23 else 40.0) for t, _ in samples]
    assert noise.lden_from_samples(samples) == pytest.approx(noise.lden(60, 50, 40), abs=1e-9)


def test_lden_needs_every_period():
    day_only = [(datetime(2026, 11, 23, h), 55.0) for h in range(8, 18)]
    assert noise.lden_from_samples(day_only) is None


@given(st.lists(st.floats(20, 120), min_size=1, max_size=50))
def test_energy_mean_lies_between_min_and_max(levels):
    m = noise.energy_mean(levels)
    assert min(levels) - 1e-9 <= m <= max(levels) + 1e-9
