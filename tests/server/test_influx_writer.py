"""The time-series mirror against a real VictoriaMetrics: everything stored is read back, nothing is
lost while the endpoint is down or across a restart, the token never shows."""
import json
import logging
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import paho.mqtt.client as mqtt

from brokers import free_port
from datacityzen.ingest import wire_v1
from datacityzen.ingest.pipeline import Message, build_batch
from datacityzen.store.duckdb_store import DuckDBStore
from datacityzen.store.influx_writer import InfluxMirror
from victoria import victoria, victoria_factory  # noqa: F401  (fixtures)

# VictoriaMetrics keeps samples within its retention and refuses ones far in the future: use recent times.
T0 = (datetime.now(timezone.utc) - timedelta(hours=6)).replace(microsecond=0)


def uplink(device, seqs, kit="air-outdoor-v1"):
    readings = tuple(
        wire_v1.Reading(seq=s, time=T0 + timedelta(minutes=s),
                        values={"pm2_5": 10.0 + s / 4, "temperature": 12.5 - s / 8, "humidity": 80.0},
                        flags={}, errors=())
        for s in seqs
    )
    return wire_v1.Uplink(device=device, kit=kit, firmware="0.1.0", readings=readings)


def store_uplinks(store, *uplinks):
    return store.insert(build_batch([(u, Message("dcz/v1/x/up", b"{}", T0 + timedelta(hours=1))) for u in uplinks]))


def expected_points(uplinks, layer="raw"):
    return {
        (u.device, u.kit, layer, f"readings_{q}", int(r.time.timestamp() * 1000), v)
        for u in uplinks for r in u.readings for q, v in r.values.items()
    }


def read_back(vm):
    return {
        (m["device"], m.get("kit"), m["layer"], m["__name__"], ts, v)
        for m, points in vm.series() for ts, v in points
    }


def wait_until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_every_stored_reading_is_read_back(tmp_path, victoria):
    store = DuckDBStore(tmp_path)
    mirror = InfluxMirror(store, victoria.url)
    a, b = uplink("dev-a", range(20)), uplink("dev-b", range(7))
    store_uplinks(store, a, b)
    assert mirror.pending() == 27
    assert mirror.flush(20)
    assert read_back(victoria) == expected_points([a, b])
    mirror.stop()
    store.close()


def test_duplicates_are_not_mirrored_twice(tmp_path, victoria):
    store = DuckDBStore(tmp_path)
    mirror = InfluxMirror(store, victoria.url)
    store_uplinks(store, uplink("dev-a", range(5)), uplink("dev-a", range(3, 8)))  # 3, 4 repeated
    assert mirror.pending() == 8
    store_uplinks(store, uplink("dev-a", range(8)))  # all already stored
    assert mirror.pending() == 8
    assert mirror.flush(20)
    series = {m["__name__"]: pts for m, pts in victoria.series()}
    assert len(series["readings_pm2_5"]) == 8
    mirror.stop()
    store.close()


def test_calibrated_layer_is_mirrored_beside_raw(tmp_path, victoria):
    store = DuckDBStore(tmp_path)
    mirror = InfluxMirror(store, victoria.url)
    up = uplink("dev-a", range(4))
    store_uplinks(store, up)
    n = 4
    obj = lambda x: np.array(x, dtype=object)  # noqa: E731
    store.insert_calibrated({
        "device": obj(["dev-a"] * n), "seq": np.arange(n, dtype=np.int64),
        "time": np.array([np.datetime64(r.time.replace(tzinfo=None), "us") for r in up.readings]),
        "quantity": obj(["pm2_5"] * n), "value": obj([5.0, None, 6.0, 7.5]),
        "flags": obj(["", "fog", "", ""]), "model": obj(["epa-2021"] * n), "model_version": obj(["1"] * n),
        "calibration": obj(["cal-0001"] * n),
    })
    assert mirror.flush(20)
    got = read_back(victoria)
    calibrated = {p for p in got if p[2] == "calibrated"}
    times = [int(r.time.timestamp() * 1000) for r in up.readings]
    assert calibrated == {  # the excluded (NULL) value is not a point
        ("dev-a", "air-outdoor-v1", "calibrated", "readings_pm2_5", times[i], v)
        for i, v in ((0, 5.0), (2, 6.0), (3, 7.5))
    }
    assert got - calibrated == expected_points([up])
    mirror.stop()
    store.close()


def test_tags_with_spaces_commas_and_equals_are_escaped(tmp_path, victoria):
    store = DuckDBStore(tmp_path)
    mirror = InfluxMirror(store, victoria.url)
    up = uplink("dev-a", [0], kit="kit one,v=2")
    store_uplinks(store, up)
    assert mirror.flush(20)
    assert {m["kit"] for m, _ in victoria.series()} == {"kit one,v=2"}
    mirror.stop()
    store.close()


def test_endpoint_down_then_restart_then_up_loses_nothing(tmp_path, victoria_factory, caplog):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    store = DuckDBStore(tmp_path)
    mirror = InfluxMirror(store, url, token="s3cret-token-value", min_backoff_s=0.1, max_backoff_s=0.4)
    mirror.start()
    first = uplink("dev-a", range(30))
    with caplog.at_level(logging.DEBUG):
        store_uplinks(store, first)
        assert wait_until(lambda: mirror.last_error is not None)  # tried, failed, kept the lines
    assert mirror.pending() == 30 and mirror.sent == 0
    assert "s3cret-token-value" not in caplog.text and "s3cret" not in repr(mirror)

    mirror.stop()  # the server restarts while the endpoint is still down
    store.close()
    store = DuckDBStore(tmp_path)
    mirror = InfluxMirror(store, url, token="s3cret-token-value", min_backoff_s=0.1, max_backoff_s=0.4)
    mirror.start()
    second = uplink("dev-b", range(10))
    store_uplinks(store, second)
    assert mirror.pending() == 40

    vm = victoria_factory(port=port)  # the endpoint comes back
    assert wait_until(lambda: mirror.pending() == 0, timeout=30)
    assert read_back(vm) == expected_points([first, second])
    mirror.stop()
    store.close()


def test_serve_mirrors_what_it_ingests(tmp_path, victoria):
    from datacityzen.service import Service
    from datacityzen.settings import Settings

    service = Service(Settings(data_dir=tmp_path / "data", http_port=free_port(), mqtt_port=free_port(),
                               influx_url=victoria.url, daily_archive=False))
    service.start()
    try:
        up = uplink("dev-s", range(6))
        payload = json.dumps({
            "version": 1, "device": "dev-s", "kit": "air-outdoor-v1", "firmware": "0.1.0",
            "readings": [{"seq": r.seq, "time": int(r.time.timestamp()), "values": r.values} for r in up.readings],
        }).encode()
        host, port = service.settings.broker_address
        # the embedded broker takes only registered devices, logged in as themselves
        password = service.registry.register("air-outdoor-v1", "S", 44.84, -0.58, device_id="dev-s").mqtt_password
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="dev-s")
        c.username_pw_set("dev-s", password)
        c.connect(host, port)
        c.loop_start()
        c.publish("dcz/v1/dev-s/up", payload, qos=1).wait_for_publish(10)
        c.disconnect()
        c.loop_stop()
        assert wait_until(lambda: service.ingest.totals["stored"] == 6)
        assert wait_until(lambda: service.mirror.pending() == 0)
        raw = lambda: {p for p in read_back(victoria) if p[2] == "raw"}  # noqa: E731
        assert wait_until(lambda: raw() == expected_points([up]), timeout=10)
        # the service computes the calibrated layer as readings arrive: it is mirrored beside the raw one
        calibrated = {p for p in read_back(victoria) if p[2] == "calibrated"}
        assert calibrated and {p[0] for p in calibrated} == {"dev-s"}
        assert {p[4] for p in calibrated} <= {p[4] for p in expected_points([up])}
    finally:
        service.stop()


def test_a_malformed_line_does_not_block_the_queue(tmp_path, victoria):
    """VictoriaMetrics skips a line it cannot parse (204); InfluxDB answers 400 and the batch moves
    to influx_rejected. Either way the readings behind it go through."""
    store = DuckDBStore(tmp_path)
    mirror = InfluxMirror(store, victoria.url)
    with store.write_lock:
        store.connection.cursor().execute("INSERT INTO influx_outbox (line) VALUES ('not line protocol')")
    up = uplink("dev-a", range(3))
    store_uplinks(store, up)
    assert mirror.flush(20)
    assert expected_points([up]) <= read_back(victoria)
    mirror.stop()
    store.close()
