"""firmware/transport/spool.py under the real MicroPython: each run_mpy call is one boot of the kit."""
import json
import os

from mpy import run_mpy

PRELUDE = """
import json
from transport.spool import Spool
s = Spool("spool", max_bytes={max_bytes})
def reading(i):
    return {{"time": 1795449600 + i, "values": {{"pm2_5": 12.5, "temperature": 11.52}}}}
"""


def boot(tmp_path, body, max_bytes=65536):
    """Run `body` in a fresh MicroPython process on the same spool directory; return its JSON lines."""
    out = run_mpy(PRELUDE.format(max_bytes=max_bytes) + body, cwd=tmp_path).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_append_peek_ack(tmp_path):
    (res,) = boot(tmp_path, """
seqs = [s.append(reading(i)) for i in range(5)]
first = s.peek(3)
s.ack(seqs[1])
print(json.dumps({"seqs": seqs, "first": first, "pending": s.pending(), "after": s.peek(10), "dropped": s.dropped}))
""")
    assert res["seqs"] == [0, 1, 2, 3, 4]
    assert [r["seq"] for r in res["first"]] == [0, 1, 2]
    assert res["first"][0] == {"seq": 0, "time": 1795449600, "values": {"pm2_5": 12.5, "temperature": 11.52}}
    assert res["pending"] == 3
    assert [r["seq"] for r in res["after"]] == [2, 3, 4]
    assert res["dropped"] == 0


def test_append_sets_seq_on_the_reading(tmp_path):
    (res,) = boot(tmp_path, """
r = reading(0)
seq = s.append(r)
print(json.dumps([seq, r["seq"]]))
""")
    assert res == [0, 0]


def test_reboot_keeps_pending_and_never_reuses_seq(tmp_path):
    (a,) = boot(tmp_path, """
seqs = [s.append(reading(i)) for i in range(5)]
s.ack(seqs[2])
print(json.dumps(seqs))
""")
    (b,) = boot(tmp_path, """
pending = [r["seq"] for r in s.peek(10)]
count = s.pending()
new = s.append(reading(9))
print(json.dumps({"pending": pending, "count": count, "new": new}))
s.ack(new)
""")
    assert b["pending"] == a[3:]
    assert b["count"] == 2
    assert b["new"] > a[-1]
    (c,) = boot(tmp_path, """
print(json.dumps({"count": s.pending(), "new": s.append(reading(10))}))
""")
    assert c["count"] == 0  # everything was acknowledged and its files removed...
    assert c["new"] > b["new"]  # ...and still no seq is reused


def test_torn_last_record_is_ignored(tmp_path):
    boot(tmp_path, "for i in range(3): s.append(reading(i))\n")
    seg = sorted(f for f in os.listdir(tmp_path / "spool") if f.endswith(".seg"))[-1]
    path = tmp_path / "spool" / seg
    data = path.read_bytes()
    path.write_bytes(data[:-7])  # power cut in the middle of the last write
    (res,) = boot(tmp_path, """
before = [r["seq"] for r in s.peek(10)]
new = s.append(reading(3))
print(json.dumps({"before": before, "new": new}))
""")
    assert res["before"] == [0, 1]
    (after,) = boot(tmp_path, 'print(json.dumps([r["seq"] for r in s.peek(10)]))\n')
    assert after == [0, 1, res["new"]]  # the appended record was not glued to the torn one


def test_corrupted_record_is_skipped(tmp_path):
    boot(tmp_path, "for i in range(3): s.append(reading(i))\n")
    seg = sorted(f for f in os.listdir(tmp_path / "spool") if f.endswith(".seg"))[0]
    path = tmp_path / "spool" / seg
    path.write_bytes(path.read_bytes().replace(b"1795449601", b"1795449609", 1))
    (res,) = boot(tmp_path, 'print(json.dumps([r["seq"] for r in s.peek(10)]))\n')
    assert res == [0, 2]


def test_full_spool_drops_oldest_and_counts(tmp_path):
    (res,) = boot(tmp_path, """
seqs = [s.append(reading(i)) for i in range(200)]
import os
size = sum(os.stat("spool/" + n)[6] for n in os.listdir("spool"))
print(json.dumps({"pending": s.pending(), "dropped": s.dropped, "oldest": s.peek(1)[0]["seq"],
                  "newest": s.peek(1000)[-1]["seq"], "last": seqs[-1], "size": size}))
""", max_bytes=4096)
    assert res["dropped"] > 0
    assert res["pending"] + res["dropped"] == 200
    assert res["oldest"] == res["dropped"]  # the oldest went first
    assert res["newest"] == res["last"] == 199
    assert res["size"] <= 4096 + 200


def test_spool_on_littlefs_ram_device():
    """The same contract on littlefs (the ESP32's filesystem), on a RAM block device."""
    out = run_mpy("""
import os, vfs
class RAMBlockDev:
    def __init__(self, block_size, num_blocks):
        self.block_size = block_size
        self.data = bytearray(block_size * num_blocks)
    def readblocks(self, n, buf, off=0):
        a = n * self.block_size + off
        buf[:] = self.data[a:a + len(buf)]
    def writeblocks(self, n, buf, off=None):
        if off is None:
            off = 0
        a = n * self.block_size + off
        self.data[a:a + len(buf)] = buf
    def ioctl(self, op, arg):
        if op == 4: return len(self.data) // self.block_size
        if op == 5: return self.block_size
        if op == 6: return 0
bdev = RAMBlockDev(512, 64)
vfs.VfsLfs2.mkfs(bdev)
vfs.mount(vfs.VfsLfs2(bdev), "/flash")
from transport.spool import Spool
s = Spool("/flash/spool", max_bytes=8192)
for i in range(40):
    s.append({"time": 1795449600 + i, "values": {"pm10": 3.5}})
s.ack(29)
vfs.umount("/flash")
vfs.mount(vfs.VfsLfs2(bdev), "/flash")  # "reboot"
s = Spool("/flash/spool", max_bytes=8192)
print(s.pending(), s.peek(1)[0]["seq"], s.append({"time": 1795449700, "values": {}}) > 39)
""", heapsize="200K").stdout
    assert out.split() == ["10", "30", "True"]


def test_shift_times_corrects_what_waits_and_survives_a_reboot(tmp_path):
    (a,) = boot(tmp_path, """
seqs = [s.append(reading(i)) for i in range(4)]
s.ack(seqs[0])
s.shift_times(-1000)  # NTP moved the clock back 1000 s: seqs 1..3 were stamped with the old clock
s.append(reading(10))  # stamped with the corrected clock
print(json.dumps([r["time"] - 1795449600 for r in s.peek(10)]))
""")
    assert a == [1 - 1000, 2 - 1000, 3 - 1000, 10]
    (b,) = boot(tmp_path, """
before = [r["time"] - 1795449600 for r in s.peek(10)]
s.ack(3)
s.append(reading(20))
print(json.dumps({"before": before, "after": [r["time"] - 1795449600 for r in s.peek(10)],
                  "files": sorted(n for n in __import__("os").listdir("spool") if not n.endswith(".seg"))}))
""")
    assert b["before"] == [1 - 1000, 2 - 1000, 3 - 1000, 10]  # kept across the reboot
    assert b["after"] == [10, 20]  # acknowledged past the shift: it no longer applies to anything
    assert "shift" in b["files"]
    (c,) = boot(tmp_path, """
s.shift_times(50)
print(json.dumps([r["time"] - 1795449600 for r in s.peek(10)]))
""")
    assert c == [60, 70]


def test_sequence_numbers_end_below_2_31_with_an_error_that_stores_nothing(tmp_path):
    """The wire format keeps seq below 2**31: once the last number is given out, append raises
    OverflowError and neither the spool's files nor its readings change."""
    boot(tmp_path, "s.append(reading(0))\ns.ack(0)\n")  # a spool on flash, then its state moved on
    (tmp_path / "spool" / "state").write_text("2147483645 2147483646 1 0")
    (res,) = boot(tmp_path, """
import os
seqs = [s.append(reading(1)), s.append(reading(2))]
files = sorted(os.listdir("spool"))
try:
    s.append(reading(3))
    error = None
except OverflowError as e:
    error = str(e)
print(json.dumps({"seqs": seqs, "error": error, "same_files": sorted(os.listdir("spool")) == files,
                  "pending": [r["seq"] for r in s.peek(10)]}))
""")
    assert res == {"seqs": [2147483646, 2147483647], "error": "sequence numbers exhausted", "same_files": True,
                   "pending": [2147483646, 2147483647]}
