"""The airrohr decoders on their own: reference rows of Sensor.Community archives in each of the three
push formats, the seq rule, rejections, and hypothesis properties for the parsers."""
import csv
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datacityzen.ingest import airrohr
from datacityzen.ingest.pipeline import Message

DATA = Path("/work/shared/data") if Path("/work/shared/data").exists() else Path(__file__).resolve().parents[3] / "shared" / "data"
NOW = datetime.now(timezone.utc)
AT = int(NOW.timestamp())
NODE = "esp8266-1234567"


def rows(name):
    path = DATA / name
    if not path.exists():
        pytest.skip(f"reference data {path} absent (../shared/data)")
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter=";"))


def decode(topic, body):
    return airrohr.decode_message(Message(topic, body, NOW, transport="airrohr"))


def test_sds011_archive_row_as_per_sensor_push():
    row = rows("sensor_community_sds011_header_and_example_rows.csv")[0]  # P1 17.63, P2 11.20
    body = json.dumps({"software_version": "NRZ-2024-135", "sensordatavalues": [
        {"value_type": "P1", "value": row["P1"]}, {"value_type": "P2", "value": row["P2"]}]}).encode()
    up = decode(airrohr.push_topic(NODE, 1, AT), body)
    (reading,) = up.readings
    assert reading.values == {"pm10": 17.63, "pm2_5": 11.20}
    assert reading.seq == AT * 100 + 1 and up.kit == "airrohr" and up.firmware == "NRZ-2024-135"


def test_bme280_archive_row_pressure_in_pa_becomes_hpa_in_all_three_formats():
    row = rows("sensor_community_2020-01-01_bme280_sensor_141_first2h.csv")[0]  # 100101.00 Pa, 4.28 °C, 78.38 %
    expected = {"pressure": 1001.01, "temperature": 4.28, "humidity": 78.38}
    push = json.dumps({"software_version": "x", "sensordatavalues": [
        {"value_type": k, "value": row[k]} for k in ("pressure", "temperature", "humidity")]}).encode()
    combined = json.dumps({"esp8266id": "1234567", "software_version": "x", "sensordatavalues": [
        {"value_type": f"BME280_{k}", "value": row[k]} for k in ("pressure", "temperature", "humidity")]
        + [{"value_type": "samples", "value": "600000"}, {"value_type": "signal", "value": "-67"}]}).encode()
    line = (f"feinstaub,node={NODE} BME280_pressure={row['pressure']},BME280_temperature={row['temperature']},"
            f"BME280_humidity={row['humidity']},samples=600000i").encode()
    for topic, body in ((airrohr.push_topic(NODE, 11, AT), push), (airrohr.combined_topic(NODE, AT), combined),
                        (airrohr.influx_topic(NODE, "ns", AT), line)):
        (reading,) = decode(topic, body).readings
        assert reading.values == pytest.approx(expected), topic


def test_combined_prefixes_map_p0_p1_p2_noise_and_sps30_counts():
    body = json.dumps({"esp8266id": "1234567", "software_version": "NRZ-2024-135", "sensordatavalues": [
        {"value_type": "SDS_P1", "value": "20.1"}, {"value_type": "SDS_P2", "value": "9.9"},
        {"value_type": "PMS_P0", "value": "5.0"}, {"value_type": "SPS30_N05", "value": "30.5"},
        {"value_type": "SPS30_TS", "value": "0.61"}, {"value_type": "DNMS_noise_LAeq", "value": "55.2"},
        {"value_type": "DNMS_noise_LA_min", "value": "41.0"}, {"value_type": "DNMS_noise_LA_max", "value": "70.3"},
        {"value_type": "GPS_lat", "value": "44.84"}, {"value_type": "SCD30_co2_ppm", "value": "600"}]}).encode()
    (reading,) = decode(airrohr.combined_topic(NODE, AT), body).readings
    assert reading.values == {"pm10": 20.1, "pm2_5": 9.9, "pm1": 5.0, "pn_lt0_5": 30.5, "typical_particle_size": 0.61,
                              "noise_laeq": 55.2, "noise_lamin": 41.0, "noise_lamax": 70.3}  # no GPS, no CO2 quantity


def test_line_protocol_timestamps_and_precision_set_time_and_seq():
    body = f"feinstaub,node={NODE} SDS_P1=3.5,SDS_P2=1.5 {AT - 300}\nfeinstaub,node={NODE} SDS_P1=4.5 {AT - 155}\n".encode()
    up = decode(airrohr.influx_topic(NODE, "s", AT), body)
    assert [r.seq for r in up.readings] == [(AT - 300) * 100, (AT - 155) * 100]
    assert up.readings[0].time == datetime.fromtimestamp(AT - 300, tz=timezone.utc)
    ns = f"feinstaub,node={NODE} SDS_P1=3.5 {(AT - 300) * 10**9}".encode()
    assert decode(airrohr.influx_topic(NODE, "ns", AT), ns).readings[0].seq == (AT - 300) * 100


@pytest.mark.parametrize("topic,body,fragment", [
    (airrohr.push_topic(NODE, 1, AT), b"{not json", "not valid JSON"),
    (airrohr.push_topic(NODE, 1, AT), b'{"sensordatavalues": []}', "non-empty list"),
    (airrohr.push_topic(NODE, 1, AT), b'{"sensordatavalues": [{"value_type": "P1", "value": "abc"}]}', "not a number"),
    (airrohr.push_topic(NODE, 1, AT), b'{"sensordatavalues": [{"value_type": "P1", "value": "NaN"}]}', "non-finite"),
    (airrohr.push_topic(NODE, 1, AT), b'{"sensordatavalues": [{"value_type": "foo", "value": "1"}]}', "no value type we store"),
    (airrohr.push_topic(NODE, 2, AT), b'{"sensordatavalues": [{"value_type": "P1", "value": "1"}]}', "X-PIN 2"),
    (airrohr.combined_topic(NODE, AT), b'{"esp8266id": "99", "sensordatavalues": [{"value_type": "SDS_P1", "value": "1"}]}', "is not the node"),
    (airrohr.influx_topic(NODE, "ns", AT), b"feinstaub,node=esp8266-9 SDS_P1=1", "not the authenticated node"),
    (airrohr.influx_topic(NODE, "ns", AT), b'feinstaub SDS_P1="1', "unterminated"),
    (airrohr.influx_topic(NODE, "s", AT), b"feinstaub SDS_P1=1 100", "outside 2015"),
], ids=lambda v: v.split("/")[2] if isinstance(v, str) and v.startswith("airrohr/") else None)  # not the time
def test_bad_bodies_are_refused_with_a_reason(topic, body, fragment):
    with pytest.raises(airrohr.AirrohrError, match=fragment):
        decode(topic, body)


def test_repeat_filter_gives_a_resent_body_its_first_time_and_new_bodies_a_new_one():
    clock = [1_800_000_000.2]
    rf = airrohr.RepeatFilter(window_s=15, clock=lambda: clock[0])
    first = rf.time_for(NODE, "pin1", b"a")
    clock[0] += 10
    assert rf.time_for(NODE, "pin1", b"a") == first          # re-sent: same second, same seq
    assert rf.time_for(NODE, "pin11", b"a") == int(clock[0])  # another sensor of the same node
    assert rf.time_for(NODE, "pin1", b"b") == int(clock[0])   # a new body
    clock[0] += 20
    assert rf.time_for(NODE, "pin1", b"a") == int(clock[0])  # outside the window: a new reading


values = st.floats(min_value=-1e5, max_value=1e5, allow_nan=False, allow_infinity=False)


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(airrohr.VALUE_TYPES)), values, min_size=1))
def test_any_push_body_decodes_to_the_mapped_quantities(vals):
    body = json.dumps({"software_version": "v", "sensordatavalues": [
        {"value_type": k, "value": f"{v:.2f}"} for k, v in vals.items()]}).encode()
    (reading,) = decode(airrohr.push_topic(NODE, 1, AT), body).readings
    for k, v in vals.items():
        q, factor = airrohr.VALUE_TYPES[k]
        assert reading.values[q] == pytest.approx(float(f"{v:.2f}") * factor, abs=1e-6)


field_names = st.sampled_from(["SDS_P1", "SDS_P2", "BME280_temperature", "SPS30_P0", "HTU21D_humidity"])


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(field_names, values, min_size=1),
       st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), st.text(alphabet=' ,="\\ab', max_size=8), max_size=2))
def test_line_protocol_with_escaped_strings_decodes_every_numeric_field(vals, strings):
    def esc(s):
        return s.replace("\\", "\\\\").replace('"', '\\"')
    fields = [f"{k}={v!r}" for k, v in vals.items()] + [f'x{k}="{esc(s)}"' for k, s in strings.items()]
    body = f"feinstaub,node={NODE} {','.join(fields)}".encode()
    (reading,) = decode(airrohr.influx_topic(NODE, "ns", AT), body).readings
    for k, v in vals.items():
        assert reading.values[airrohr.quantity_of(k, True)[0]] == pytest.approx(v)


@settings(max_examples=120, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_airrohr_error(body):
    for topic in (airrohr.push_topic(NODE, 1, AT), airrohr.combined_topic(NODE, AT), airrohr.influx_topic(NODE, "ns", AT)):
        try:
            decode(topic, body)
        except airrohr.AirrohrError:
            pass
