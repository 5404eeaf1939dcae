"""The spool as a store-and-forward buffer under the real MicroPython: readings taken before the clock is
set, a week of readings on the ESP32's littlefs, and power cuts in the middle of a flash write."""
import json

from mpy import run_mpy

T_SET = 1795449600  # the Unix time the clock is set to in these tests

PRELUDE = """
import json
from transport.spool import Spool
def reading(i, **kw):
    r = {"values": {"pm2_5": 12.5, "temperature": 11.52}}
    r.update(kw)
    return r
def out(obj):
    print("RESULT " + json.dumps(obj))
"""


def boot(tmp_path, body, heapsize="110K", timeout=60):
    """One boot of the kit on the spool folder in tmp_path; returns the RESULT objects it printed."""
    proc = run_mpy(PRELUDE + body, cwd=tmp_path, heapsize=heapsize, timeout=timeout)
    return [json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]


def test_readings_before_the_clock_wait_and_get_their_time_once_it_is_set(tmp_path):
    (res,) = boot(tmp_path, f"""
s = Spool("spool")
a = s.append(reading(0, up=10))
b = s.append(reading(1, up=155))
before = s.peek(10)  # no time known yet: nothing may leave
s.set_clock({T_SET} - 300)  # the clock is set: uptime 0 was 300 s before T_SET
c = s.append(reading(2, time={T_SET} + 5))
out({{"boot": s.boot, "before": before, "after": s.peek(10), "seqs": [a, b, c]}})
""")
    assert res["before"] == []
    times = [(r["seq"], r["time"]) for r in res["after"]]
    assert times == [(0, T_SET - 290), (1, T_SET - 145), (2, T_SET + 5)]
    assert all("up" not in r and "boot" not in r for r in res["after"])


def test_untimed_readings_survive_a_reboot_after_their_boot_set_the_clock(tmp_path):
    boot(tmp_path, f"""
s = Spool("spool")
s.append(reading(0, up=10))
s.set_clock({T_SET})
""")
    (res,) = boot(tmp_path, """
s = Spool("spool")
s.append(reading(1, up=3))  # this boot's clock is not set yet
out({"boot": s.boot, "peek": s.peek(10), "pending": s.pending()})
""")
    assert res["boot"] == 2
    assert [(r["seq"], r["time"]) for r in res["peek"]] == [(0, T_SET + 10)]  # the second waits
    assert res["pending"] == 2


def test_readings_of_a_boot_that_never_knew_the_time_are_dropped_and_counted(tmp_path):
    boot(tmp_path, f"""
s = Spool("spool")
s.append(reading(0, time={T_SET}))
for i in range(3):
    s.append(reading(i, up=i))  # then the power went before NTP answered
""")
    (res,) = boot(tmp_path, f"""
s = Spool("spool")
first = s.peek(10)  # the timed one goes; the untimed ones wait behind it
s.ack(first[-1]["seq"])
s.set_clock({T_SET} + 1000)
s.append(reading(9, up=1))
rest = s.peek(10)
out({{"first": first, "rest": rest, "untimed": s.untimed, "dropped": s.dropped, "pending": s.pending()}})
""")
    assert [r["seq"] for r in res["first"]] == [0]
    assert [(r["time"]) for r in res["rest"]] == [T_SET + 1001]  # this boot's, with its own anchor
    assert res["untimed"] == 3 and res["dropped"] == 3
    assert res["pending"] == 1
    (again,) = boot(tmp_path, 'out({"dropped": Spool("spool").dropped})\n')
    assert again["dropped"] == 3  # the count survives reboots (reported in the status)


LFS_DEV = """
import vfs, os
class Flash:
    # A RAM block device with littlefs's extended interface. Power cut: after `budget` more block
    # operations the power fails; the operation it fails in programs only its first half.
    def __init__(self, block_size, num_blocks, data=None):
        self.bs = block_size
        self.data = bytearray(block_size * num_blocks) if data is None else data
        self.budget = -1
        self.ops = 0
    def _spend(self):
        self.ops += 1
        if self.budget == 0:
            raise OSError(5)
        if self.budget > 0:
            self.budget -= 1
            return self.budget == 0
        return False
    def readblocks(self, n, buf, off=0):
        a = n * self.bs + off
        buf[:] = self.data[a:a + len(buf)]
    def writeblocks(self, n, buf, off=None):
        last = self._spend()
        a = n * self.bs + (off or 0)
        k = len(buf) // 2 if last else len(buf)
        self.data[a:a + k] = buf[:k]
        if last:
            raise OSError(5)
    def ioctl(self, op, arg):
        if op == 4: return len(self.data) // self.bs
        if op == 5: return self.bs
        if op == 6:  # erase: NOR flash reads 0xFF afterwards
            last = self._spend()
            a = arg * self.bs
            for i in range(a, a + (self.bs // 2 if last else self.bs)):
                self.data[i] = 0xFF
            if last:
                raise OSError(5)
            return 0
        return 0
def mount(dev):
    try:
        vfs.umount("/f")
    except OSError:
        pass
    vfs.mount(vfs.VfsLfs2(dev), "/f")
"""


def test_a_week_at_145_s_fits_the_default_spool_on_littlefs(tmp_path):
    """7 days of air-outdoor-v1 readings (145 s apart) in the default max_bytes, on littlefs with the
    ESP32's 4 KiB blocks; then it keeps going, dropping the oldest and counting them."""
    (res,) = boot(tmp_path, LFS_DEV + f"""
import config, gc
max_bytes = config.defaults()["spool"]["max_bytes"]
seg_bytes = config.defaults()["spool"]["seg_bytes"]
dev = Flash(4096, 256)  # 1 MiB of the 2 MiB littlefs partition
vfs.VfsLfs2.mkfs(dev)
mount(dev)
s = Spool("/f/spool", max_bytes, seg_bytes)
week = 7 * 86400 // 145
n = 0
while s.dropped == 0:
    s.append({{"time": {T_SET} + 145 * n, "values": {{"pm2_5": 12.34 + n % 7, "pm10": 19.87, "temperature": 11.52,
                                                      "humidity": 81.43, "pressure": 1016.31}}}})
    n += 1
    if n == week:
        at_week = {{"pending": s.pending(), "dropped": s.dropped, "bytes": s.bytes_used()}}
capacity = n - 1
for i in range(300):  # and beyond: the oldest go, counted
    s.append({{"time": {T_SET} + 145 * (n + i), "values": {{"pm2_5": 1.0}}}})
oldest = s.peek(1)[0]["seq"]
del s
gc.collect(); m0 = gc.mem_alloc()
s = Spool("/f/spool", max_bytes, seg_bytes)  # a reboot with a full spool
gc.collect(); ram = gc.mem_alloc() - m0
out({{"max_bytes": max_bytes, "ram": ram, "segments": len(s._segs), "week": week, "at_week": at_week, "capacity": capacity,
      "days": capacity * 145 / 86400, "pending": s.pending(), "dropped": s.dropped, "oldest": oldest,
      "appended": n + 300}})
""", heapsize="2M", timeout=300)
    print("spool capacity:", json.dumps(res))
    assert res["week"] == 4171
    assert res["at_week"]["dropped"] == 0 and res["at_week"]["pending"] == 4171
    assert res["at_week"]["bytes"] <= res["max_bytes"]
    assert res["days"] >= 7.0
    assert res["pending"] + res["dropped"] == res["appended"]
    assert res["oldest"] == res["dropped"]  # the oldest went first
    assert res["ram"] <= 6144  # what a full spool keeps in RAM (the firmware has about 100 KB)


def test_power_cut_during_a_write_loses_at_most_the_reading_being_written(tmp_path):
    """Cut the power at every block write of an append (and of an ack), the write in progress landing
    half done; after the reboot every earlier reading is there, intact, and the spool works on."""
    (res,) = boot(tmp_path, LFS_DEV + f"""
def good_state():
    dev = Flash(512, 128)
    vfs.VfsLfs2.mkfs(dev)
    mount(dev)
    s = Spool("/f/spool", 16384, seg_bytes=1024)
    for i in range(12):
        s.append({{"time": {T_SET} + i, "values": {{"pm10": 3.5 + i}}}})
    s.ack(3)
    return bytes(dev.data)

def after_reboot(data):
    dev = Flash(512, 128, data)
    mount(dev)
    s = Spool("/f/spool", 16384, seg_bytes=1024)
    return s, [(r["seq"], r["time"], r["values"]["pm10"]) for r in s.peek(100)]

image = good_state()
_, before = after_reboot(bytearray(image))
report = {{"append": [], "ack": [], "before": len(before)}}
for action in ("append", "ack"):
    k = 1
    while True:
        dev = Flash(512, 128, bytearray(image))
        mount(dev)
        s = Spool("/f/spool", 16384, seg_bytes=1024)
        dev.budget = k
        try:
            if action == "append":
                s.append({{"time": {T_SET} + 99, "values": {{"pm10": 99.5}}}})
            else:
                s.ack(8)
            finished = True
        except OSError:
            finished = False
        s2, got = after_reboot(dev.data)
        new = s2.append({{"time": {T_SET} + 100, "values": {{"pm10": 100.5}}}})
        _, final = after_reboot(dev.data)
        report[action].append({{"cut_at": k, "finished": finished, "seqs": [g[0] for g in got],
                                "intact": all(g in got for g in before) or action == "ack",
                                "kept": [g for g in before if g not in got],
                                "new_seq": new, "max_seq": max(g[0] for g in got), "final": len(final)}})
        if finished:
            break
        k += 1
out(report)
""", heapsize="1M", timeout=120)
    before_seqs = list(range(4, 12))
    summary = {a: {"cuts": len(res[a]) - 1, "lost_new": 0} for a in ("append", "ack")}
    for case in res["append"]:
        # every earlier reading, value for value; the one being written either whole or absent
        assert case["intact"], case
        assert case["seqs"][:8] == before_seqs and len(case["seqs"]) in (8, 9), case
        if case["finished"]:
            assert len(case["seqs"]) == 9
        summary["append"]["lost_new"] += case["seqs"] == before_seqs
        assert case["new_seq"] > case["max_seq"]  # a seq is never reused after the cut
        assert case["final"] == len(case["seqs"]) + 1
    for case in res["ack"]:
        # acknowledged or not: nothing unacknowledged is lost (at worst 4..8 are sent again)
        assert case["seqs"] in (before_seqs, list(range(9, 12))), case
        assert case["new_seq"] > max(before_seqs)
    assert summary["append"]["cuts"] >= 2 and summary["ack"]["cuts"] >= 1
    print("power cuts:", json.dumps(summary))
