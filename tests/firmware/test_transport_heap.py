"""Heap budget of the transport's hot path on a 110 KiB heap (an ESP32 without PSRAM)."""
import json

from mpy import run_mpy

# gc.mem_alloc() deltas without a collection in between: bytes allocated, garbage included (what the
# GC must reclaim per call); "after" and "creep" are what stays allocated.
BUDGET = {"import": 16000, "append": 4000, "peek": 48000, "encode": 64000, "after": 32000, "creep": 512}


def test_encode_and_spool_fit_the_heap(tmp_path):
    out = run_mpy("""
import gc, json
gc.collect(); m0 = gc.mem_alloc()
from transport import wire
from transport.spool import Spool
gc.collect(); m1 = gc.mem_alloc()
buf = bytearray(8192)  # the link's payload buffer, allocated at start-up
s = Spool("spool", max_bytes=65536)
vals = {"pm2_5": 12.34, "pm10": 19.87, "temperature": 11.52, "humidity": 81.43, "pressure": 1016.31}
res = {"import": m1 - m0}
for i in range(30):
    gc.collect(); a = gc.mem_alloc()
    s.append({"time": 1795449600 + 300 * i, "values": vals, "flags": {"pm2_5": ["warmup"]}})
    res["append"] = max(res.get("append", 0), gc.mem_alloc() - a)
gc.collect(); a = gc.mem_alloc()
batch = s.peek(wire.max_batch(len(vals)))
res["peek"] = gc.mem_alloc() - a
gc.collect(); a = gc.mem_alloc()
data, n = wire.encode_batch("dcz-3f2a9c", "air-outdoor-v1", "0.1.0", batch, buf=buf)
res["encode"] = gc.mem_alloc() - a
res["bytes"] = len(data); res["n"] = n
del batch, data
gc.collect(); a = gc.mem_alloc()
for i in range(5):  # steady state: peek + encode again and again, the heap must not creep up
    data, n = wire.encode_batch("dcz-3f2a9c", "air-outdoor-v1", "0.1.0", s.peek(30), buf=buf)
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
