"""The registry on a real DuckDB store, with readings stored through the real ingest pipeline."""
import json
from datetime import datetime, timedelta, timezone

import pytest

from datacityzen.ingest.pipeline import Ingestor, Message
from datacityzen.store.duckdb_store import DuckDBStore
from datacityzen.store.registry import Registry, RegistryError, hash_secret, token_hash, verify_secret
from datacityzen.store import usage

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path):
    s = DuckDBStore(tmp_path)
    yield s
    s.close()


@pytest.fixture
def registry(store):
    return Registry.of(store)


def ingest(store, device, seqs, t0=T0):
    payload = json.dumps({"version": 1, "device": device, "kit": "air-outdoor-v1", "firmware": "0.1.0",
                          "readings": [{"seq": s, "time": int(t0.timestamp()) + 600 * s,
                                        "values": {"pm2_5": 5.0 + s, "temperature": 10.0}} for s in seqs]})
    return Ingestor(store).handle([Message(f"dcz/v1/{device}/up", payload.encode(), T0 + timedelta(days=1))])


def count(store, sql, *params):
    return store._con.cursor().execute(sql, list(params)).fetchone()[0]


def test_secrets_are_stored_as_salted_scrypt_hashes(store, registry):
    reg = registry.register("air-outdoor-v1", "Balcon", 44.84, -0.58)
    rows = store._con.cursor().execute("SELECT kind, secret_hash FROM device_credentials WHERE device = ?",
                                       [reg.id]).fetchall()
    dump = " ".join(h for _, h in rows)
    # mqtt and http as scrypt; the MQTT password also in mosquitto's own $7$ (PBKDF2-SHA512) format,
    # for the generated mosquitto password file (issue 8), never in clear.
    assert {k for k, _ in rows} == {"mqtt", "http", "mosquitto"}
    assert all(h.startswith("scrypt$16384$8$1$") for k, h in rows if k != "mosquitto")
    assert all(h.startswith("$7$") for k, h in rows if k == "mosquitto")
    assert reg.mqtt_password not in dump and reg.http_token not in dump
    tokens = [t for (t,) in store._con.cursor().execute("SELECT token_hash FROM host_tokens").fetchall()]
    assert tokens == [token_hash(reg.host_token)] and reg.host_token not in tokens
    assert hash_secret("same") != hash_secret("same")  # salted
    assert reg.mqtt_password not in repr(reg)


def test_tokens_carry_at_least_128_bits(registry):
    reg = registry.register("air-outdoor-v1", "Balcon", 44.84, -0.58)
    for secret in (reg.mqtt_password, reg.http_token, reg.host_token):
        assert len(secret) >= 43  # token_urlsafe(32): 256 bits in base64url


def test_check_mqtt_and_http_token(registry):
    a = registry.register("air-outdoor-v1", "A", 44.84, -0.58)
    b = registry.register("air-outdoor-v1", "B", 44.85, -0.57)
    assert registry.check_mqtt(a.id, a.mqtt_password)
    assert registry.check_mqtt(a.id, a.mqtt_password)  # second time from the cache
    assert not registry.check_mqtt(a.id, b.mqtt_password)  # another device's password
    assert not registry.check_mqtt(b.id, a.mqtt_password)
    assert not registry.check_mqtt(a.id, a.http_token)  # the HTTP token is not the MQTT password
    assert not registry.check_mqtt("dcz-unknown", a.mqtt_password)
    assert not registry.check_mqtt(a.id, "")
    assert registry.check_http_token(b.id, b.http_token)
    assert not registry.check_http_token(a.id, b.http_token)


def test_rotated_credentials_replace_the_old_ones(registry):
    a = registry.register("air-outdoor-v1", "A", 44.84, -0.58)
    assert registry.check_mqtt(a.id, a.mqtt_password)  # now cached
    password, token = registry.rotate_credentials(a.id)
    assert not registry.check_mqtt(a.id, a.mqtt_password)
    assert not registry.check_http_token(a.id, a.http_token)
    assert registry.check_mqtt(a.id, password) and registry.check_http_token(a.id, token)


def test_verify_secret_rejects_malformed_hashes():
    assert not verify_secret("x", "md5$abc")
    assert not verify_secret("x", "garbage")


def test_host_link_rotate_and_revoke(registry):
    a = registry.register("air-outdoor-v1", "A", 44.84, -0.58)
    assert registry.device_for_host_token(a.host_token) == a.id
    new = registry.rotate_host_token(a.id)
    assert registry.device_for_host_token(a.host_token) is None
    assert registry.device_for_host_token(new) == a.id
    assert registry.revoke_host_token(a.id) == 1
    assert registry.device_for_host_token(new) is None
    assert registry.device_for_host_token("") is None and registry.device_for_host_token("x" * 500) is None


def test_registration_writes_exact_and_snapped_site(store, registry):
    a = registry.register("air-outdoor-v1", "A", 44.8412, -0.5797, altitude_m=21.0, precision_m=500)
    row = store._con.cursor().execute("SELECT lat, lon, altitude_m, precision_m, public_lat, public_lon "
                                      "FROM device_sites WHERE device = ?", [a.id]).fetchone()
    assert row == (44.8412, -0.5797, 21.0, 500, 44.841847, -0.5771162)
    assert registry.set_precision(a.id, 100) == (44.8409477, -0.5802606)
    assert registry.site(a.id)["public_lat"] == 44.8409477
    with pytest.raises(RegistryError):
        registry.set_precision(a.id, 10)


@pytest.mark.parametrize("kwargs,message", [
    ({"kit": "Air Outdoor"}, "kit"), ({"name": ""}, "name"), ({"lat": 95.0}, "latitude"),
    ({"email": "not-an-address"}, "e-mail"), ({"device_id": "UPPER CASE"}, "device id"),
    ({"precision_m": 50}, "precision"),
])
def test_registration_rejects_bad_input_and_says_what_to_change(registry, kwargs, message):
    args = {"kit": "air-outdoor-v1", "name": "A", "lat": 44.84, "lon": -0.58, **kwargs}
    with pytest.raises(RegistryError, match=message):
        registry.register(args.pop("kit"), args.pop("name"), args.pop("lat"), args.pop("lon"), **args)
    assert registry.devices() == []


def test_a_device_id_is_registered_once(registry):
    registry.register("air-outdoor-v1", "A", 44.84, -0.58, device_id="dcz-balcon")
    with pytest.raises(RegistryError, match="already registered"):
        registry.register("air-outdoor-v1", "B", 44.84, -0.58, device_id="dcz-balcon")


def test_deleted_period_stays_deleted_when_messages_are_delivered_again(store, registry):
    a = registry.register("air-outdoor-v1", "A", 44.84, -0.58, device_id="dev-del")
    ingest(store, "dev-del", range(10))
    removed = registry.delete_period("dev-del", T0 + timedelta(minutes=30), T0 + timedelta(minutes=70))
    assert removed == 2 * 4  # seq 3..6 (times 30, 40, 50, 60 min) x 2 quantities
    assert count(store, "SELECT count(*) FROM raw_values WHERE device = 'dev-del'") == 12
    assert count(store, "SELECT count(*) FROM raw_readings WHERE device = 'dev-del'") == 10  # tombstones
    result = ingest(store, "dev-del", range(10))  # the broker redelivers everything
    assert result.stored == 0 and result.duplicates == 10
    assert count(store, "SELECT count(*) FROM raw_values WHERE device = 'dev-del'") == 12
    (period,) = registry.deleted_periods(a.id)
    assert period["values_removed"] == 8 and period["start"] == datetime(2026, 11, 20, 12, 30)


def test_late_readings_inside_a_deleted_period_are_swept(store, registry):
    registry.register("air-outdoor-v1", "A", 44.84, -0.58, device_id="dev-late")
    ingest(store, "dev-late", range(3))
    registry.delete_period("dev-late", T0, T0 + timedelta(hours=1))
    # a spool backlog: new sequence numbers, times inside the deleted hour
    ingest(store, "dev-late", [100], t0=T0 - timedelta(seconds=600 * 100) + timedelta(minutes=20))
    assert count(store, "SELECT count(*) FROM raw_values WHERE device = 'dev-late'") == 2
    assert registry.sweep_deleted_periods() == 2
    assert count(store, "SELECT count(*) FROM raw_values WHERE device = 'dev-late'") == 0


def test_delete_period_refuses_an_empty_or_future_period(registry):
    registry.register("air-outdoor-v1", "A", 44.84, -0.58, device_id="dev-x")
    with pytest.raises(RegistryError):
        registry.delete_period("dev-x", T0, T0)
    with pytest.raises(RegistryError):
        registry.delete_period("dev-x", datetime.now(timezone.utc) + timedelta(days=1),
                               datetime.now(timezone.utc) + timedelta(days=2))


def test_pause_hides_readings_from_public_outputs_for_good(store, registry):
    registry.register("air-outdoor-v1", "A", 44.84, -0.58, device_id="dev-p")
    registry.set_paused("dev-p", True, now=T0 + timedelta(minutes=25))
    assert registry.is_paused("dev-p")
    registry.set_paused("dev-p", False, now=T0 + timedelta(minutes=45))
    ingest(store, "dev-p", range(8))  # stored whatever the pause: the host still sees them
    assert count(store, "SELECT count(*) FROM raw_values WHERE device = 'dev-p'") == 16
    chunks = usage.public_download(store, ["dev-p"], store.iter_readings(["dev-p"], ["pm2_5"], None, None),
                                   "readings")
    seqs = [row[4] for chunk in chunks for row in chunk]
    assert seqs == [0, 1, 2, 5, 6, 7]  # 30 and 40 min fell inside the pause
    assert usage.downloads(store, "dev-p") == {"readings": 1}


def test_alerts_validate_their_settings(registry):
    registry.register("air-outdoor-v1", "A", 44.84, -0.58, device_id="dev-a")
    with pytest.raises(RegistryError):
        registry.add_alert("dev-a", "silence", "email", "a@b.fr", hours=0)
    with pytest.raises(RegistryError):
        registry.add_alert("dev-a", "threshold", "email", "a@b.fr", quantity="co2", op="above", threshold=1)
    with pytest.raises(RegistryError):
        registry.add_alert("dev-a", "threshold", "sms", "a@b.fr", quantity="pm2_5", op="above", threshold=1)
    alert = registry.add_alert("dev-a", "threshold", "email", "a@b.fr", quantity="pm2_5", op="above", threshold=25)
    assert [a["id"] for a in registry.alerts("dev-a")] == [alert]
    assert not registry.remove_alert("other-device", alert)
    assert registry.remove_alert("dev-a", alert) and registry.alerts("dev-a") == []
