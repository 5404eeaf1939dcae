"""The exhibition's reaction detector: a clap or a breath is reported once, a steady room never."""
from hypothesis import given
from hypothesis import strategies as st

from datacityzen.exhibition.reactions import RULES, ReactionDetector, Rule, change

steady = st.floats(min_value=35, max_value=90, allow_nan=False)


@given(level=steady, jitter=st.lists(st.floats(min_value=-4.9, max_value=4.9), min_size=1, max_size=40))
def test_a_steady_room_never_reacts(level, jitter):
    det = ReactionDetector()
    for j in jitter:  # reading-to-reading changes under half the 10 dB threshold
        assert det.observe("kit-01", {"noise_lamax": level + j}) == []


@given(level=steady, jump=st.floats(min_value=10, max_value=40), stay=st.integers(min_value=1, max_value=5))
def test_a_clap_is_reported_once_while_it_lasts(level, jump, stay):
    det = ReactionDetector()
    for _ in range(3):
        det.observe("kit-01", {"noise_lamax": level})
    first = det.observe("kit-01", {"noise_lamax": level + jump})
    assert [(r.kind, r.quantity) for r in first] == [("clap", "noise_lamax")]
    assert abs(first[0].change - jump) < 1e-9 and first[0].baseline == level
    for _ in range(stay - 1):  # still loud (fewer readings than the history): no new reaction
        assert det.observe("kit-01", {"noise_lamax": level + jump}) == []
    det.observe("kit-01", {"noise_lamax": level})  # back to calm
    assert len(det.observe("kit-01", {"noise_lamax": level + jump})) == 1  # a second clap counts


def test_just_below_the_threshold_is_not_a_clap():
    det = ReactionDetector()
    for _ in range(3):
        det.observe("kit-01", {"noise_lamax": 50.0})
    assert det.observe("kit-01", {"noise_lamax": 59.99}) == []
    assert len(det.observe("kit-01", {"noise_lamax": 70.0})) == 1


@given(base=st.floats(min_value=5e3, max_value=5e5), drop=st.floats(min_value=0.2, max_value=0.95))
def test_a_breath_lowers_the_gas_resistance_by_a_fraction(base, drop):
    det = ReactionDetector()
    for _ in range(2):
        det.observe("kit-01", {"gas_resistance": base})
    out = det.observe("kit-01", {"gas_resistance": base * (1 - drop) * 0.999})
    assert [(r.kind, r.quantity) for r in out] == [("breath", "gas_resistance")]
    assert out[0].change >= drop


def test_a_higher_gas_resistance_is_no_breath():
    det = ReactionDetector()
    det.seed("kit-01", {"gas_resistance": [100e3, 100e3]})
    assert det.observe("kit-01", {"gas_resistance": 300e3}) == []


def test_nothing_is_reported_before_a_baseline_exists():
    det = ReactionDetector()
    assert det.observe("kit-01", {"noise_lamax": 40.0}) == []
    assert det.observe("kit-01", {"noise_lamax": 90.0}) == []  # one calm value is not a baseline


def test_a_lasting_change_becomes_the_new_baseline():
    det = ReactionDetector(history=4)
    det.seed("kit-01", {"noise_lamax": [50.0] * 4})
    assert len(det.observe("kit-01", {"noise_lamax": 70.0})) == 1
    for _ in range(3):
        assert det.observe("kit-01", {"noise_lamax": 70.0}) == []
    # the hall is now louder: 72 dB is no clap, 85 dB is one
    assert det.observe("kit-01", {"noise_lamax": 72.0}) == []
    assert len(det.observe("kit-01", {"noise_lamax": 85.0})) == 1


def test_devices_and_quantities_are_independent():
    det = ReactionDetector()
    det.seed("kit-01", {"noise_lamax": [50.0, 50.0], "humidity": [40.0, 40.0]})
    det.seed("kit-02", {"noise_lamax": [80.0, 80.0]})
    out = det.observe("kit-02", {"noise_lamax": 85.0, "pm2_5": 500.0})
    assert out == []
    out = det.observe("kit-01", {"noise_lamax": 50.5, "humidity": 48.0})
    assert [(r.kind, r.quantity) for r in out] == [("breath", "humidity")]


def test_baseline_is_the_median_so_one_odd_value_does_not_move_it():
    det = ReactionDetector()
    det.seed("kit-01", {"noise_lamax": [50.0, 50.0, 59.0, 50.0, 50.0]})
    out = det.observe("kit-01", {"noise_lamax": 61.0})
    assert len(out) == 1 and out[0].baseline == 50.0


def test_rules_are_the_issue_thresholds():
    rules = {r.quantity: r for r in RULES}
    assert (rules["noise_lamax"].mode, rules["noise_lamax"].threshold) == ("rise", 10.0)
    assert (rules["gas_resistance"].mode, rules["gas_resistance"].threshold) == ("drop", 0.20)
    assert change(Rule("gas_resistance", "breath", "drop", 0.2), 100.0, 75.0) == 0.25
    assert change(Rule("gas_resistance", "breath", "drop", 0.2), 0.0, 75.0) == 0.0
