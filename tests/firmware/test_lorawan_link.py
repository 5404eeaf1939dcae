"""The LoRaWAN link under real MicroPython: time on air against published figures, the daily budgets,
the LoRa-E5 AT dialogue against the simulated modem (errors included), and the link's heap."""
import json
import socket
import threading
import time

import pytest

from fwsim import run_fw
from mpy import FIRMWARE

# Published time on air, EU868 125 kHz, CR 4/5, 8-symbol preamble, explicit header, CRC on, low data
# rate optimisation at SF11/12: The Things Network's LoRaWAN airtime calculator
# (avbentem.github.io/airtime-calculator/ttn/eu868/12), whose figures follow Semtech AN1200.13.
# 12 bytes of application payload = 25 bytes of PHY payload with LoRaWAN's 13 bytes of overhead.
PUBLISHED_MS = {  # (PHY bytes, SF) -> ms
    (12, 7): 41.216, (12, 12): 1155.072,  # a bare 12-byte LoRa frame
    (25, 7): 61.696, (25, 9): 205.824, (25, 10): 411.648, (25, 11): 823.296, (25, 12): 1482.752,
    (64, 12): 2793.472,  # 51 bytes (DR0's maximum) + 13
}


def test_time_on_air_matches_published_figures(tmp_path):
    got = run_fw("""
from transport import airtime
out({"%d,%d" % k: airtime.time_on_air_us(k[0], k[1]) for k in KEYS})
""".replace("KEYS", repr(list(PUBLISHED_MS))), tmp_path)
    for (pl, sf), ms in PUBLISHED_MS.items():
        assert got[f"{pl},{sf}"] / 1000 == pytest.approx(ms, abs=0.001), (pl, sf)


def test_budget_keeps_any_24_hours_within_30_s(tmp_path):
    """A device sending as often as the budget lets it, at SF12 (51-byte uplinks, 2.79 s each), for
    three simulated days: no 24-hour window holds more than 30 s of airtime."""
    got = run_fw("""
from transport import airtime
diff = lambda a, b: a - b
b = airtime.Budget(30000000, 3000000, 0)
cost = airtime.uplink_us(51, 0)
t = 0
sends = []
while t < 3 * 86400000:
    w = b.wait_ms(cost, t, diff)
    t += w
    b.spend(cost, t, diff)
    sends.append(t)
    t += 1000
out({"cost": cost, "sends": sends})
""", tmp_path, heapsize="1M")
    sends, cost = got["sends"], got["cost"]
    worst = 0
    j = 0
    for i, t in enumerate(sends):
        while sends[j] <= t - 86400000:
            j += 1
        worst = max(worst, (i - j + 1) * cost)
    assert worst <= 30000000
    assert len(sends) / 3 >= 0.85 * 30000000 / cost  # and the budget is used, not wasted
    print(f"SF12 51-byte uplinks: {len(sends) / 3:.1f} a day, worst 24 h {worst / 1e6:.2f} s of airtime")


class FakeNetwork:
    """The network side the simulated modem talks to: ACKs every confirmed uplink (or none), and answers
    a DeviceTimeReq with the GPS time (LoRaWAN 1.0.3 5.9: GPS epoch 1980-01-06, GPS - UTC = 18 s)."""

    def __init__(self, ack=True):
        self.frames = []
        self.ack = ack
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            buf = b""
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:  # the device process went away mid-connection (reset)
                    break
                if not data:
                    break
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    frame = json.loads(line)
                    self.frames.append(frame)
                    answer = {}
                    if "DeviceTimeReq" in (frame.get("mac") or ()):
                        answer["device_time"] = time.time() - 315964800 + 18
                    if frame.get("confirmed") and self.ack:
                        answer.update(ack=True, rssi=-107, snr=-3.5)
                    if answer:
                        conn.sendall(json.dumps(answer).encode() + b"\n")

    def close(self):
        self.sock.close()


def hw(port, **faults):
    return {"seed": 1, "uart": {}, "i2c": {},
            "lorawan": {"uart": 1, "ns": ["127.0.0.1", port], "join_s": 0.05, "ack_timeout_s": 0.5,
                        "faults": faults}}


DIALOGUE = """
import asyncio, machine
from drivers.lora_e5 import LoRaE5, LoRaE5Error, NotJoined, Busy
m = LoRaE5(machine.UART(1, baudrate=9600, timeout=0))
res = {}
async def main():
    res["ok"] = await m.check()
    res["eui"] = await m.dev_eui()
    try:
        await m.set("KEY", "APPKEY,0011")
    except LoRaE5Error as e:
        res["bad_key"] = e.code
    res["key"] = await m.set("KEY", "APPKEY,00112233445566778899AABBCCDDEEFF")
    res["mode"] = await m.set("MODE", "LWOTAA")
    try:
        await m.send(b"\\x01\\x02", True)
    except NotJoined as e:
        res["not_joined"] = str(e)
    res["join1"] = await m.join()
    res["join2"] = await m.join()
    res["join3"] = await m.join()
    await m.set("DR", "0")
    res["dr"] = await m.data_rate()
    try:
        await m.send(bytes(52), True)
    except LoRaE5Error as e:
        res["too_long"] = str(e)
    await m.set("DR", "5")
    res["ack"] = await m.send(b"\\x10\\x00\\x00\\x05", True)
    res["rx"] = [m.window, m.rssi, m.snr]
    try:
        await m.send(b"\\x10\\x00\\x00\\x06", True)
    except Busy as e:
        res["busy_ms"] = e.wait_ms
    res["unconfirmed"] = await m.send(b"\\xab", False)
    try:
        await m.command("AT+NOSUCH")
    except LoRaE5Error as e:
        res["unknown"] = e.code
    res["cmd"] = bytes(m._hex_command(True, b"\\x01\\xab\\xff")).decode()
asyncio.run(main())
out(res)
"""


def test_at_dialogue_with_the_modem_including_its_errors(tmp_path):
    net = FakeNetwork()
    try:
        res = run_fw(DIALOGUE, tmp_path, hw(net.port, join_fail=1, no_band_every=2))
    finally:
        net.close()
    assert res["ok"] is True and res["eui"] == "2CF7F12032308463"
    assert res["bad_key"] == -1  # +KEY: ERROR(-1): parameter invalid
    assert res["key"] == "APPKEY 00112233445566778899AABBCCDDEEFF" and res["mode"] == "LWOTAA"
    assert "Please join network first" in res["not_joined"]
    assert (res["join1"], res["join2"], res["join3"]) == (False, True, True)  # failed, joined, already
    assert res["dr"] == 0
    assert "Length error 51" in res["too_long"]  # DR0 carries at most 51 bytes
    assert res["ack"] is True and res["rx"] == [1, -107, -3.5]
    assert res["busy_ms"] == 1200  # "+CMSGHEX: No band in 1200ms"
    assert res["unconfirmed"] is True
    assert res["unknown"] == -10
    assert res["cmd"] == 'AT+CMSGHEX="01ABFF"\r\n'
    ups = [f for f in net.frames if f["op"] == "up"]
    # the refused messages (length, no band) never went on air
    assert [(f["hex"], f["confirmed"]) for f in ups] == [("10000005", True), ("AB", False)]


LINK = """
import asyncio, gc, time, json
import machine, board, log, lora_e5_model, outage, socket  # the app's and the simulated hardware's share
machine.config()
gc.collect(); m0 = gc.mem_alloc()
from transport.lorawan import LorawanLink, LinkError
gc.collect(); m1 = gc.mem_alloc()
cfg = {"lorawan": {"app_key": "00112233445566778899AABBCCDDEEFF", "confirmed_per_day": %s,
                   "airtime_ms_per_day": 30000, "retry_backoff_cap_s": 1}}
link = LorawanLink(cfg, "dev-lw", "air-outdoor-v1", "0.1.0")
gc.collect(); m2 = gc.mem_alloc()
vals = {"pm2_5": 12.34, "pm10": 19.87, "temperature": 11.52, "humidity": 81.43, "pressure": 1016.31}
rs = [{"seq": 100 + i, "time": 1795449600 + 145 * i, "values": vals, "flags": {"pm2_5": ["warmup"]}}
      for i in range(30)]
res = {"import": m1 - m0, "link": m2 - m1}
async def main():
    errors = []
    while not link.connected:
        try:
            await link.connect()
        except LinkError as e:
            errors.append(str(e))
    res["join_errors"] = errors
    gc.collect(); a = gc.mem_alloc()
    n = await link.send(rs)
    gc.collect()
    res["send"] = gc.mem_alloc() - a  # kept after one uplink (the simulated modem's socket included)
    res["n"] = n
    gc.collect(); a = gc.mem_alloc()
    for i in range(5):
        await link.send(rs[n:])
        gc.collect()
    res["creep"] = gc.mem_alloc() - a
    t = time.ticks_ms()
    res["down_wait_ms"] = link._down.wait_ms(1, t, time.ticks_diff)
    res["air_spent_us"] = link._air.spent
asyncio.run(main())
gc.collect(); res["free"] = gc.mem_free()
out(res)
"""

# Bytes kept by the link's import (its four modules' bytecode and tables; the Wi-Fi link's wifi_mqtt +
# mqtt + wire take 22.3 KB measured the same way), its construction (encoder buffer, driver buffers),
# after the first confirmed uplink, and after five more (creep). Garbage per uplink is not budgeted
# here: most of it is the simulated modem's (a failed non-blocking recv per 10 ms poll). The unix port is 64-bit: the ESP32 needs less (sim/runner.py, WORD_SIZE_MARGIN_KB).
BUDGET = {"import": 24000, "link": 4000, "send": 4000, "creep": 256}


def test_link_joins_sends_within_its_heap_budget(tmp_path):
    net = FakeNetwork()
    try:
        res = run_fw(LINK % "None", tmp_path, hw(net.port, join_fail=2), heapsize="110K")
    finally:
        net.close()
    print("LoRaWAN link heap (bytes):", {k: res[k] for k in ("import", "link", "send", "creep", "free")})
    assert res["join_errors"] == ["LoRaWAN join failed (no Join Accept)"] * 2
    assert res["n"] == 21  # 21 air-outdoor readings in 222 bytes at DR5 (a flag on each)
    for k, limit in BUDGET.items():
        assert res[k] <= limit, f"{k}: {res[k]} bytes > {limit}"
    ups = [f for f in net.frames if f["op"] == "up"]
    assert len(ups) == 6 and all(f["confirmed"] and f["fport"] == 1 for f in ups)
    assert res["down_wait_ms"] == 0  # no downlink limit configured


def test_ten_downlinks_a_day_space_the_confirmed_uplinks(tmp_path):
    net = FakeNetwork()
    try:
        res = run_fw(LINK.replace("for i in range(5)", "for i in range(0)") % "10", tmp_path, hw(net.port),
                     heapsize="200K")
    finally:
        net.close()
    # one ACK spent from a bucket of one, refilled at 9 a day: the next confirmed uplink waits 2.67 h
    assert res["down_wait_ms"] == pytest.approx(86400000 / 9, rel=0.01)
    assert res["air_spent_us"] > 0


def test_link_module_is_registered():
    assert '"lorawan"' in (FIRMWARE / "transport/links.py").read_text()


def test_a_lorawan_kit_without_wifi_does_not_open_the_setup_portal(tmp_path):
    res = run_fw("""
import portal_gate
wifi_kit = {"wifi": {"ssid": ""}, "transport": {"link": "wifi"}}
lora_kit = {"wifi": {"ssid": ""}, "transport": {"link": "lorawan"}}
r = [portal_gate.wants_portal(wifi_kit), portal_gate.wants_portal(lora_kit)]
open(portal_gate.PORTAL_FLAG, "w").write("asked")
r.append(portal_gate.wants_portal(lora_kit))
out(r)
""", tmp_path, heapsize="300K")
    assert res == [True, False, True]
