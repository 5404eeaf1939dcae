"""The cellular link under the real MicroPython: the AT driver and transport/cellular_mqtt.py against the
simulated SIM800 and SIM7080G on the fake UART (sim/hw/*_model.py), whose TCP goes to a real broker.

Errors as the modems report them: +CME ERROR, no registration (denied, searching), a dropped connection
("CLOSED" / "+CASTATE: 0,0"), a modem that never answers."""
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fwsim import compiled_dir
from mpy import run_mpy
from test_mqtt_client import DEVICE, Subscriber, publish_retained

MODEMS = ("sim800", "sim7080g")

LINK = """
import asyncio, json
from transport.cellular_mqtt import CellularMqttLink, LinkError
cfg = {{"cellular": {{"modem": "{modem}", "uart": 1, "apn": "sim.test", "apn_user": "kit",
                     "apn_password": "s3cret-apn", "register_timeout_s": {reg_s}}},
       "mqtt": {{"host": "{host}", "port": {port}, "keepalive_s": 30}}}}
configs = []
def out(**kw):
    print("RESULT " + json.dumps(kw))
async def main():
    link = CellularMqttLink(cfg, "{device}", "air-outdoor-v1", "0.1.0")
    link.on_config = configs.append
    try:
{body}
    except LinkError as e:
        out(error=str(e), connected=link.connected)
asyncio.run(main())
"""


def run_link(tmp_path, b, modem, body, faults=None, reg_s=5, heapsize="160K"):
    hw = {"seed": 3, "uart": {"1": {"chip": modem}}}
    if faults:
        hw["modem"] = faults
    (tmp_path / "sim_hw.json").write_text(json.dumps(hw))
    body = "\n".join("        " + line for line in body.strip().splitlines())
    code = LINK.format(modem=modem, host=b.host, port=b.port, device=DEVICE, body=body, reg_s=reg_s)
    t0 = time.monotonic()
    out = run_mpy(code, cwd=tmp_path, heapsize=heapsize, extra_path=(compiled_dir(),)).stdout
    results = [json.loads(line[7:]) for line in out.splitlines() if line.startswith("RESULT ")]
    assert results, out
    return results, time.monotonic() - t0


@pytest.mark.parametrize("modem", MODEMS)
def test_readings_status_and_downlink_through_the_modem(mosquitto_broker, tmp_path, modem):
    b = mosquitto_broker
    publish_retained(b, f"dcz/v1/{DEVICE}/config", json.dumps({"version": 1, "rev": 3, "status_every_s": 120}))
    sub = Subscriber(b, f"dcz/v1/{DEVICE}/#")
    try:
        results, took = run_link(tmp_path, b, modem, """
await link.connect()
out(connected=link.connected, rssi=link.rssi_dbm, reg=link.registration)
await link.send([{"seq": i, "time": 1795449600 + 60 * i, "values": {"pm2_5": 12.5 + i}} for i in range(40)])
await link.publish_status({"uptime_s": 12})
for i in range(50):
    if configs:
        break
    await asyncio.sleep_ms(20)
out(configs=configs, at_commands=link._modem.at.commands)
await link.close()
out(closed=True, connected=link.connected)
""")
        msgs = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (msgs.get("up") and len(msgs.get("status", [])) >= 3):
            try:
                m = sub.get(timeout=1)
            except Exception:
                continue
            if m.topic.endswith("/config"):
                continue
            msgs.setdefault(m.topic.rsplit("/", 1)[1], []).append(json.loads(m.payload))
    finally:
        sub.close()
    print(modem, results, f"{took:.1f} s")
    assert results[0] == {"connected": True, "rssi": -77, "reg": 1}  # +CSQ: 18 -> -113 + 2 * 18 dBm
    assert results[1]["configs"] == [{"rev": 3, "status_every_s": 120}]  # the retained downlink config
    assert results[2] == {"closed": True, "connected": False}
    up = msgs["up"]
    assert [r["seq"] for p in up for r in p["readings"]] == list(range(40))  # in order, once each
    online = [s for s in msgs["status"] if s["state"] == "online"]
    assert online[-1]["uptime_s"] == 12
    assert online[-1]["cellular"] == {"modem": modem, "rssi_dbm": -77, "registration": "home"}
    assert msgs["status"][-1]["state"] == "offline"  # close() publishes it before DISCONNECT


@pytest.mark.parametrize("modem,command", [("sim800", "CIICR"), ("sim7080g", "CNACT")])
def test_cme_error_from_the_bearer_is_a_link_error(mosquitto_broker, tmp_path, modem, command):
    # 148: "unspecified GPRS error", 3GPP TS 27.007 9.2.2
    results, _ = run_link(tmp_path, mosquitto_broker, modem, "await link.connect()\nout(connected=True)",
                          faults={"cme": {command: 148}})
    assert results == [{"error": results[0]["error"], "connected": False}]
    assert "ModemCMEError" in results[0]["error"] and "+CME ERROR: 148" in results[0]["error"]


@pytest.mark.parametrize("modem,command", [("sim800", "CSTT"), ("sim7080g", "CNCFG")])
def test_a_failed_apn_command_does_not_leak_the_apn_password(mosquitto_broker, tmp_path, modem, command):
    results, _ = run_link(tmp_path, mosquitto_broker, modem, "await link.connect()", faults={"cme": {command: 3}})
    assert "+CME ERROR: 3" in results[0]["error"] and f"+{command}" in results[0]["error"]
    assert "s3cret-apn" not in results[0]["error"]  # the app logs this message


@pytest.mark.parametrize("modem", MODEMS)
def test_sim_absent(mosquitto_broker, tmp_path, modem):
    results, _ = run_link(tmp_path, mosquitto_broker, modem, "await link.connect()", faults={"sim": "absent"})
    assert "+CME ERROR: 10" in results[0]["error"]  # SIM not inserted


@pytest.mark.parametrize("modem", MODEMS)
def test_registration_denied_fails_at_once_searching_after_the_timeout(mosquitto_broker, tmp_path, modem):
    t0 = time.monotonic()
    results, _ = run_link(tmp_path, mosquitto_broker, modem, "await link.connect()",
                          faults={"registration": "denied"}, reg_s=30)
    assert results[0]["error"] == f"cellular {modem}: not registered (denied)"
    assert time.monotonic() - t0 < 20  # did not wait for the 30 s registration timeout
    results, _ = run_link(tmp_path, mosquitto_broker, modem, "await link.connect()",
                          faults={"registration": "searching"}, reg_s=1)
    assert results[0]["error"] == f"cellular {modem}: not registered (searching)"


@pytest.mark.parametrize("modem", MODEMS)
def test_modem_that_never_answers_times_out(mosquitto_broker, tmp_path, modem):
    results, _ = run_link(tmp_path, mosquitto_broker, modem, "await link.connect()", faults={"silent": True})
    assert "ModemTimeout" in results[0]["error"]


@pytest.mark.parametrize("modem", MODEMS)
def test_dropped_connection_then_reconnect_delivers_at_least_once(mosquitto_broker, tmp_path, modem):
    """The network drops the connection right after the uplink left (4th send: CONNECT, SUBSCRIBE, the
    online status, the uplink): its PUBACK never comes, send() fails, the link is down; after a
    reconnect the same readings go again and are acknowledged."""
    b = mosquitto_broker
    sub = Subscriber(b, f"dcz/v1/{DEVICE}/up")
    try:
        results, _ = run_link(tmp_path, b, modem, """
readings = [{"seq": i, "time": 1795449600 + 60 * i, "values": {"pm2_5": 1.5}} for i in range(3)]
await link.connect()
try:
    await link.send(readings)
    out(first="acknowledged")
except LinkError as e:
    out(first=str(e), connected=link.connected)
await link.connect()
await link.send(readings)
out(second="acknowledged", connected=link.connected)
await link.close()
""", faults={"drop_after_sends": 4})
        got = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(got) < 2:
            try:
                got.append(json.loads(sub.get(timeout=1).payload))
            except Exception:
                pass
    finally:
        sub.close()
    assert results[0]["connected"] is False and "MQTT publish" in results[0]["first"]
    assert results[1] == {"second": "acknowledged", "connected": True}
    assert [[r["seq"] for r in p["readings"]] for p in got] == [[0, 1, 2], [0, 1, 2]]  # the server dedups


# The modem's UART in the parser tests (MicroPython source, put before each script).
SCRIPTED_UART = """
class ScriptedUART:
    # hands the canned answer out in chunks of `step` bytes, whatever was written
    def __init__(self, data, step):
        self.data = data; self.step = step; self.written = bytearray()
    def any(self):
        return min(self.step, len(self.data))
    def readinto(self, buf):
        n = min(len(buf), self.step, len(self.data))
        buf[:n] = self.data[:n]; self.data = self.data[n:]
        return n
    def write(self, b):
        self.written += b
"""

PARSER = SCRIPTED_UART + """
import asyncio
from drivers.at_modem import ATModem, ModemCMEError, ModemError, ModemTimeout, csq_dbm

STREAM = (b"\\r\\n+CSQ: 23,0\\r\\n\\r\\nCLOSED\\r\\n\\r\\nOK\\r\\n"
          b"\\r\\n+CIPRXGET: 2,6,0\\r\\n\\r\\nOK\\x00\\xff\\r\\nOK\\r\\n"
          b"\\r\\n+CARECV: 5,a\\r\\nbc\\r\\nOK\\r\\n"
          b"\\r\\n> \\r\\nSEND OK\\r\\n"
          b"\\r\\n+CME ERROR: 30\\r\\n")

async def main():
    for step in (1, 2, 3, 7, 64):
        u = ScriptedUART(STREAM, step)
        at = ATModem(u, buf_size=64)
        urcs = []
        at.urcs = (b"CLOSED",); at.on_urc = urcs.append
        csq = await at.query(b"+CSQ", b"+CSQ: ")
        buf = bytearray(8)
        n1 = await at.read_data(b"+CIPRXGET=2,8", b"+CIPRXGET: 2,", buf, False)
        d1 = bytes(buf[:n1])
        n2 = await at.read_data(b"+CARECV=0,8", b"+CARECV: ", buf, True)
        d2 = bytes(buf[:n2])
        await at.send_data(b"+CIPSEND=3", b"xyz", done=(b"SEND OK",))
        try:
            await at.command(b"+CIICR")
            err = None
        except ModemCMEError as e:
            err = e.code
        try:
            await at.command(b"", 50)
            late = "answered"
        except ModemTimeout:
            late = "timeout"
        print(step, csq, csq_dbm(csq[0]), urcs, d1, d2, err, late, bytes(u.written))
    print([csq_dbm(r) for r in (0, 1, 2, 30, 31, 99)])
asyncio.run(main())
"""


def test_at_parser_frames_answers_urcs_and_binary_data_in_any_chunking(tmp_path):
    out = run_mpy(PARSER, cwd=tmp_path).stdout.splitlines()
    written = "b'AT+CSQ\\rAT+CIPRXGET=2,8\\rAT+CARECV=0,8\\rAT+CIPSEND=3\\rxyzAT+CIICR\\rAT\\r'"
    for line, step in zip(out, (1, 2, 3, 7, 64)):
        # the payload "\r\nOK\x00\xff" starts with a line end and holds an "OK": read as data, not as
        # framing or a result; so is the inline "a\r\nbc" of +CARECV
        assert line == (f"{step} [23, 0] -67 [b'CLOSED'] b'\\r\\nOK\\x00\\xff' b'a\\r\\nbc' 30 timeout "
                        + written), line
    # 3GPP TS 27.007 8.5: 0 -> -113 dBm or less, 1 -> -111, 2..30 -> -109..-53, 31 -> -51 or more, 99 unknown
    assert out[5] == "[-113, -111, -109, -53, -51, None]"


PROPERTY = SCRIPTED_UART + """
import asyncio, json
from drivers.at_modem import ATModem

async def main():
    for payload, step, inline, urc_before, urc_after in json.loads(CASES):
        payload = bytes.fromhex(payload)
        if inline:
            answer = b"\\r\\n+CARECV: %d," % len(payload) + payload + b"\\r\\nOK\\r\\n"
        else:
            answer = b"\\r\\n+CIPRXGET: 2,%d,0\\r\\n" % len(payload) + payload + b"\\r\\nOK\\r\\n"
        stream = b"\\r\\nCLOSED\\r\\n" * urc_before + answer + b"\\r\\nCLOSED\\r\\n" * urc_after + b"\\r\\nOK\\r\\n"
        at = ATModem(ScriptedUART(stream, step), buf_size=96)
        urcs = []
        at.urcs = (b"CLOSED",); at.on_urc = urcs.append
        dest = bytearray(300)
        prefix = b"+CARECV: " if inline else b"+CIPRXGET: 2,"
        n = await at.read_data(b"+X", prefix, dest, inline)
        after = await at.command(b"")  # the next exchange finds its own OK: the stream stayed aligned
        print(json.dumps([bytes(dest[:n]).hex(), len(urcs), after]))
asyncio.run(main())
"""


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.binary(max_size=300), st.integers(1, 97), st.booleans(), st.integers(0, 2),
                          st.integers(0, 2)), min_size=1, max_size=8))
def test_at_data_reads_return_any_payload_in_any_chunking(tmp_path, cases):
    """Whatever the payload (line ends, "OK", "ERROR", ">" inside, longer than the AT buffer) and however
    the UART hands it over, the TCP read returns it whole, URCs around it reach on_urc, and the stream
    stays aligned for the next command."""
    code = PROPERTY.replace("CASES", repr(json.dumps([[p.hex(), s, i, b, a] for p, s, i, b, a in cases])))
    out = run_mpy(code, cwd=tmp_path, extra_path=(compiled_dir(),)).stdout.splitlines()
    assert len(out) == len(cases)
    for line, (payload, _, _, before, after) in zip(out, cases):
        assert json.loads(line) == [payload.hex(), before + after, []]


LATE = """
import asyncio, time
from drivers.at_modem import ATModem, ModemTimeout

class TimedUART:
    # each answer becomes readable at its time (ms after start), whatever was written
    def __init__(self, script):
        self.t0 = time.ticks_ms(); self.script = script; self.data = b""
    def _due(self):
        now = time.ticks_diff(time.ticks_ms(), self.t0)
        while self.script and self.script[0][0] <= now:
            self.data += self.script.pop(0)[1]
    def any(self):
        self._due(); return len(self.data)
    def readinto(self, buf):
        self._due(); n = min(len(buf), len(self.data))
        buf[:n] = self.data[:n]; self.data = self.data[n:]
        return n
    def write(self, b):
        pass

async def main():
    u = TimedUART([(150, b"\\r\\n+CSQ: 5,0\\r\\n\\r\\nOK\\r\\n"), (450, b"\\r\\n+CREG: 0,1\\r\\n\\r\\nOK\\r\\n")])
    at = ATModem(u)
    try:
        await asyncio.wait_for_ms(at.command(b"+CSQ"), 50)  # given up before the modem answers
    except asyncio.TimeoutError:
        print("cancelled")
    await asyncio.sleep_ms(20)
    print(await at.command(b"+CREG?", 2000))
    try:
        await at.command(b"+CSQ", 30)  # nothing more comes
    except ModemTimeout as e:
        print("timeout", e.command)
asyncio.run(main())
"""


def test_a_late_answer_to_a_command_given_up_is_not_taken_for_the_next_ones(tmp_path):
    out = run_mpy(LATE, cwd=tmp_path, extra_path=(compiled_dir(),)).stdout.splitlines()
    assert out == ["cancelled", "[b'+CREG: 0,1']", "timeout b'+CSQ'"]
