"""Store-and-forward spool on flash: readings wait here until the server acknowledged them.

Layout of the spool directory:
- segment files `<first seq, 10 digits>.seg`, appended to until `seg_bytes`; one record per line:
  8 hex digits of CRC-32 over the JSON, the JSON of the reading, "\\n". A line whose CRC does not match
  (a power cut mid-write tears the last one) is ignored, and after a reboot appends go to a new segment
  so a torn tail is never glued to a good record.
- `state`: "<acked seq> <seq reserved up to> <boot> <dropped>", replaced atomically (write
  `state.tmp`, rename). Sequence numbers are reserved in blocks of `_SEQ_BLOCK`, so `state` is written
  once per block rather than per reading; a reboot skips the rest of the block (seq stays strictly
  increasing, with gaps). `boot` counts the boots (written once per boot); `dropped` counts the
  readings lost to a full spool or an unknown time, over the life of the spool.
- `clock`: JSON {"<boot>": <Unix time at that boot's uptime 0>}, the anchor of each boot whose clock was
  set, kept while readings of that boot may wait.

Time: a reading taken before the clock is set is appended with "boot" (this boot's number) and "up"
(seconds since boot) instead of "time". Once the clock is set, `set_clock()` records the boot's
anchor and peek() hands such readings out with "time" = anchor + up; so a reading is only ever sent
with a real time. Readings of a boot that ended before its clock was ever set have no possible time:
peek() drops them at the head of the queue and counts them (`untimed`, also added to `dropped`).

A clock taken as set can still be wrong (an RTC years ahead, say). When NTP later moves it by more
than the app's threshold, `shift_times(by_s)` records (last seq so far, by_s) in `shift`, and peek()
adds by_s to the time of every reading up to that seq, and to the boot anchors: what waits in the spool
leaves with the corrected time.
When the spool exceeds `max_bytes`, the oldest segment is deleted and its unacknowledged readings are
counted in `dropped`. Capacity (tests/firmware/test_spool_store_forward.py): a record of the
air-outdoor-v1 kit is about 145 bytes, so the 768 KiB of config.py keep about 5,400 readings, 9 days
at 145 s; RAM holds one small list per segment (48 of 16 KiB when full).
"""
import json
import os
from binascii import crc32

try:
    from micropython import const
except ImportError:  # CPython fallback
    def const(x):
        return x

_SEQ_BLOCK = const(100)
_SEQ_LIMIT = const(0x7FFFFFFF)  # the wire format keeps seq below 2**31
_MAX_ANCHORS = const(16)
_MAX_SHIFTS = const(8)
SEG_SUFFIX = ".seg"


try:
    memoryview("")

    def _bytes_view(s):
        return memoryview(s)  # MicroPython: a str is a buffer of its UTF-8, no copy needed
except TypeError:  # CPython fallback

    def _bytes_view(s):
        return memoryview(s.encode())


def _replace(tmp, final):
    try:
        os.rename(tmp, final)
    except OSError:  # FAT will not rename over a file; readers fall back to the .tmp file
        os.remove(final)
        os.rename(tmp, final)


class Spool:
    def __init__(self, path, max_bytes=65536, seg_bytes=8192):
        self.path = path
        self.max_bytes = max_bytes
        self.seg_bytes = min(seg_bytes, max(256, max_bytes // 4))
        self.untimed = 0  # readings dropped this boot because their time can never be known
        self._open_seg = None  # first seq of the segment appended to; None: start a new one
        # State, clock anchors, shifts and segments (self._segs: [first_seq, last_seq, unacked
        # count, bytes], oldest first) come back from flash; that code runs once per boot, so it
        # leaves the heap afterwards.
        from transport import spool_restore
        from unload import forget

        spool_restore.restore(self)
        forget("transport.spool_restore")
        self._write_state()
        self._drop_acked()

    # ---- files ------------------------------------------------------------------------------
    def _seg_path(self, first):
        return "%s/%010d%s" % (self.path, first, SEG_SUFFIX)

    def _write_state(self):
        tmp = self.path + "/state.tmp"
        with open(tmp, "w") as f:
            f.write("%d %d %d %d" % (self._acked, self._reserved, self.boot, self.dropped))
        _replace(tmp, self.path + "/state")

    def _write_json(self, name, value):
        tmp = self.path + "/" + name + ".tmp"
        with open(tmp, "w") as f:
            json.dump(value, f)
        _replace(tmp, self.path + "/" + name)

    def _write_anchors(self):
        self._write_json("clock", {str(k): self._anchors[k] for k in self._anchors})

    def _records(self, first):
        """Yield (seq, line) for each intact record of a segment: the line is bytes, its JSON from
        offset 8 on. The CRC is checked over a view of the line: no copy of a record but the line."""
        with open(self._seg_path(first), "rb") as f:
            while True:
                line = f.readline()
                if not line:
                    return
                if len(line) < 10 or line[-1] != 10:  # no newline: torn
                    continue
                try:
                    ok = int(line[:8], 16) == crc32(memoryview(line)[8:-1])
                except ValueError:
                    ok = False
                if not ok:
                    continue
                # seq is the first member: '{"seq":41,...' (see append), after the CRC.
                i = line.find(b",", 15)
                yield int(line[15:i if i > 0 else -2]), line

    def _scan(self, first):
        last = -1
        count = 0
        for seq, _ in self._records(first):
            last = seq
            if seq > self._acked:
                count += 1
        size = os.stat(self._seg_path(first))[6]
        return last, count, size

    # ---- contract ---------------------------------------------------------------------------
    def append(self, reading):
        """Assign the next seq to `reading` (sets reading["seq"]), store it durably, return seq.
        OverflowError, with nothing written, once the wire format's 2**31 numbers are used up.

        `reading` holds "time" (Unix seconds), or, before the clock is set, "up" (seconds since boot:
        "boot" is added here)."""
        seq = self._next
        if seq > _SEQ_LIMIT:
            raise OverflowError("sequence numbers exhausted")
        if seq >= self._reserved:
            self._reserved = seq + _SEQ_BLOCK
            self._write_state()
        self._next = seq + 1
        # The record is encoded from `reading` itself, not a copy; each copy of a record is a few
        # hundred bytes in one piece, asked for in the middle of a cycle, from a fragmented heap.
        reading.pop("seq", None)
        untimed = "time" not in reading
        if untimed:
            reading["boot"] = self.boot
        try:
            body = _bytes_view(json.dumps(reading, separators=(",", ":")))[1:]  # without its "{"
        finally:
            if untimed:
                del reading["boot"]
            reading["seq"] = seq
        head = b'{"seq":%d,' % seq if len(body) > 1 else b'{"seq":%d' % seq
        crc = crc32(body, crc32(head))
        size = 8 + len(head) + len(body) + 1  # CRC (8 hex digits), body, newline
        seg = self._segs[-1] if self._segs else None
        if seg is None or self._open_seg != seg[0] or seg[3] + size > self.seg_bytes:
            seg = [seq, seq, 0, 0]
            self._segs.append(seg)
            self._open_seg = seq
        with open(self._seg_path(seg[0]), "ab") as f:
            f.write(b"%08x" % crc)  # a record torn between these writes fails its CRC (_records)
            f.write(head)
            f.write(body)
            f.write(b"\n")
        seg[1] = seq
        seg[2] += 1
        seg[3] += size
        self._trim()
        return seq

    def _trim(self):
        total = 0
        for s in self._segs:
            total += s[3]
        lost = 0
        while total > self.max_bytes and len(self._segs) > 1:
            s = self._segs.pop(0)
            os.remove(self._seg_path(s[0]))
            lost += s[2]
            total -= s[3]
        if lost:
            self.dropped += lost
            self._write_state()

    def set_clock(self, unix_at_boot):
        """The clock is set: `unix_at_boot` is the Unix time (s) of this boot's uptime 0. Readings of
        this boot stored with "up" get their time from it."""
        if self._anchors.get(self.boot) == unix_at_boot:
            return
        self._anchors[self.boot] = unix_at_boot
        while len(self._anchors) > _MAX_ANCHORS:
            del self._anchors[min(self._anchors)]
        self._write_anchors()

    def shift_times(self, by_s):
        """The clock just moved by `by_s` seconds (NTP corrected it): readings appended so far and the
        boot anchors were taken with the old clock; peek() adds `by_s` to their time."""
        upto = self._next - 1
        if upto > self._acked:
            self._shifts.append([upto, by_s])
            while len(self._shifts) > _MAX_SHIFTS:
                del self._shifts[0]
            self._write_json("shift", self._shifts)
        if self._anchors:
            for b in self._anchors:
                self._anchors[b] += by_s
            self._write_anchors()

    def _shift(self, seq):
        by = 0
        for upto, s in self._shifts:
            if seq <= upto:
                by += s
        return by

    def peek(self, n):
        """The oldest up to `n` unacknowledged readings that have a time (dicts, oldest first).

        Stops before a reading of this boot taken before the clock was set (it waits for
        set_clock()); drops, and counts, readings of earlier boots that never had their clock set."""
        out = []
        skip_to = -1
        for s in self._segs:
            if len(out) >= n:
                break
            if s[2] == 0:
                continue
            for seq, line in self._records(s[0]):
                if seq <= self._acked:
                    continue
                r = json.loads(line[8:])
                if "time" not in r:
                    boot = r.pop("boot", -1)
                    t0 = self._anchors.get(boot)
                    if t0 is None:
                        if boot == self.boot or out:
                            return self._dropped_untimed(skip_to, out)  # wait / send what we have
                        skip_to = seq  # no time can ever be known: drop it
                        continue
                    r["time"] = t0 + r.pop("up", 0)
                elif self._shifts:
                    r["time"] += self._shift(seq)
                out.append(r)
                if len(out) >= n:
                    break
        return self._dropped_untimed(skip_to, out)

    def _dropped_untimed(self, skip_to, out):
        if skip_to >= 0:
            lost = self.pending()
            self.ack(skip_to)
            lost -= self.pending()
            self.untimed += lost
            self.dropped += lost
            self._write_state()
        return out

    def ack(self, upto_seq):
        """Forget every reading with seq <= upto_seq, durably."""
        if upto_seq <= self._acked:
            return
        self._acked = upto_seq
        self._write_state()
        self._drop_acked()
        for s in self._segs:
            if s[0] > upto_seq:
                break
            s[2] = self._scan(s[0])[1]
        if self._shifts and self._shifts[0][0] <= upto_seq:
            self._shifts = [x for x in self._shifts if x[0] > upto_seq]
            self._write_json("shift", self._shifts)
        keep = self._anchors.get(self.boot)
        if not self._segs and len(self._anchors) > (0 if keep is None else 1):
            # nothing waits: earlier boots' anchors are of no more use
            self._anchors = {} if keep is None else {self.boot: keep}
            self._write_anchors()

    def _drop_acked(self):
        while self._segs and self._segs[0][1] <= self._acked:
            s = self._segs.pop(0)
            os.remove(self._seg_path(s[0]))
            if self._open_seg == s[0]:
                self._open_seg = None

    def pending(self):
        n = 0
        for s in self._segs:
            n += s[2]
        return n

    def bytes_used(self):
        n = 0
        for s in self._segs:
            n += s[3]
        return n

    @property
    def next_seq(self):
        return self._next
