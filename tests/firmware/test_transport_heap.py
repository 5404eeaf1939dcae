"""Heap budget of the transport's hot path on a 110 KiB heap (an ESP32 without PSRAM)."""
import json

import pytest

from fwsim import compiled_dir
from mpy import run_mpy

# gc.mem_alloc() deltas without a collection in between: bytes allocated, garbage included (what the
# GC must reclaim per call); "after" and "creep" are what stays allocated.
BUDGET = {"import": 16000, "append": 4000, "peek": 48000, "encode": 64000, "after": 32000, "creep": 512}


def test_encode_and_spool_fit_the_heap(tmp_path):
    out = run_mpy("""
import gc, json
gc.collect(); m0 = gc.mem_alloc()
from transport import wire_payload
from transport.spool import Spool
gc.collect(); m1 = gc.mem_alloc()
buf = bytearray(8192)  # a buffer allocated once, early: encode_batch writes into it
s = Spool("spool", max_bytes=65536)
vals = {"pm2_5": 12.34, "pm10": 19.87, "temperature": 11.52, "humidity": 81.43, "pressure": 1016.31}
res = {"import": m1 - m0}
for i in range(30):
    gc.collect(); a = gc.mem_alloc()
    s.append({"time": 1795449600 + 300 * i, "values": vals, "flags": {"pm2_5": ["warmup"]}})
    res["append"] = max(res.get("append", 0), gc.mem_alloc() - a)
gc.collect(); a = gc.mem_alloc()
batch = s.peek(wire_payload.max_batch(len(vals)))
res["peek"] = gc.mem_alloc() - a
gc.collect(); a = gc.mem_alloc()
data, n = wire_payload.encode_batch("dcz-3f2a9c", "air-outdoor-v1", "0.1.0", batch, buf=buf)
res["encode"] = gc.mem_alloc() - a
res["bytes"] = len(data); res["n"] = n
del batch, data
gc.collect(); a = gc.mem_alloc()
for i in range(5):  # steady state: peek + encode again and again, the heap must not creep up
    data, n = wire_payload.encode_batch("dcz-3f2a9c", "air-outdoor-v1", "0.1.0", s.peek(30), buf=buf)
    del data
    gc.collect()
res["creep"] = gc.mem_alloc() - a
gc.collect(); res["after"] = gc.mem_alloc() - m1; res["free"] = gc.mem_free()
print(json.dumps(res))
""", cwd=tmp_path, heapsize="110K").stdout
    res = json.loads(out)
    print("heap use (bytes):", res)
    assert res["n"] == 30
    for k, limit in BUDGET.items():
        assert res[k] <= limit, f"{k}: {res[k]} bytes > {limit}"


# The cellular link (tests/firmware/test_cellular_link.py has its behaviour): bytes kept by its modules,
# by the link object (modem driver, AT buffer, socket adapter buffers), and by a live
# session after 30 readings went through; the simulated modem's own heap is measured apart and left out.
# Unix-port (64-bit) figures measured: 36.7 KB of modules (MQTT client, wire format and the modem driver
# included), 9.3 KB of link object, 4.8 KB more while a session is up; the ESP32 needs less (16-byte
# blocks, 4-byte pointers).
CELLULAR_BUDGET = {"import": 42000, "link": 11000, "session": 8000, "creep": 512}


@pytest.mark.parametrize("modem", ["sim800", "sim7080g"])
def test_cellular_link_fits_the_heap(mosquitto_broker, tmp_path, modem):
    (tmp_path / "sim_hw.json").write_text(json.dumps({"seed": 3, "uart": {"1": {"chip": modem}}}))
    out = run_mpy(f"""
import gc, json, asyncio
gc.collect(); m0 = gc.mem_alloc()
import machine
u = machine.UART(1)  # the simulated modem alone: its modules and one instance
gc.collect(); ma = gc.mem_alloc()
u2 = machine.UART(1)  # one more instance: what the link's UART costs in the simulator only
gc.collect(); res = {{"sim_modem": ma - m0, "sim_modem_instance": gc.mem_alloc() - ma}}
del u, u2
gc.collect(); m1 = gc.mem_alloc()
from transport.cellular_mqtt import CellularMqttLink
from drivers import at_modem, {modem}
gc.collect(); m2 = gc.mem_alloc(); res["import"] = m2 - m1
cfg = {{"cellular": {{"modem": "{modem}", "apn": "sim.test"}},
       "mqtt": {{"host": "127.0.0.1", "port": {mosquitto_broker.port}, "payload_bytes": 4096}}}}
link = CellularMqttLink(cfg, "dcz-3f2a9c", "air-outdoor-v1", "0.1.0")
gc.collect(); m3 = gc.mem_alloc()
res["link"] = m3 - m2 - res["sim_modem_instance"]
vals = {{"pm2_5": 12.34, "pm10": 19.87, "temperature": 11.52, "humidity": 81.43, "pressure": 1016.31}}
batch = [{{"seq": i, "time": 1795449600 + 300 * i, "values": vals}} for i in range(30)]
gc.collect(); mb = gc.mem_alloc()
async def main():
    await link.connect()
    await link.send(batch)
    gc.collect(); res["session"] = gc.mem_alloc() - mb
    a = gc.mem_alloc()
    for i in range(5):
        await link.send(batch)
        gc.collect()
    res["creep"] = gc.mem_alloc() - a
    res["free"] = gc.mem_free()
    await link.close()
asyncio.run(main())
print(json.dumps(res))
""", cwd=tmp_path, heapsize="110K", extra_path=(compiled_dir(),)).stdout
    res = json.loads(out.strip().splitlines()[-1])
    print(f"cellular {modem} heap (bytes):", res)
    for k, limit in CELLULAR_BUDGET.items():
        assert res[k] <= limit, f"{k}: {res[k]} bytes > {limit}"
