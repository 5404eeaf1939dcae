"""LoRaWAN payload v1 encoder (docs/wire-format.md, "LoRaWAN binary payload v1"), on fPort 1.

The decoder is server/datacityzen/ingest/lorawan_v1.py; tests/test_lorawan_roundtrip.py runs this file
under MicroPython and feeds its bytes to that decoder.

    header      4 bytes, big-endian: layout id (4 bits) | seq of the first reading (28 bits)
    reading 1   4 bytes, big-endian: has-flags (1 bit) | time - 2020-01-01 (31 bits, seconds)
                then each quantity of the layout as a fixed-width code, bit-packed MSB first, the
                last byte padded with 0 bits; then its flags block if it has flags
    reading k   varint((seq delta - 1) << 1 | has-flags), zigzag varint(time delta),
                for each quantity zigzag varint(code - the previous reading's code); flags block

A code is round((value - low) * scale); the all-ones code of a field means "no value" (a failed
sensor, or a value the field cannot hold). Particle masses use one 14-bit code: 0.1 ug/m3 steps up to
999.9, then 1 ug/m3 steps up to 7382 (code - 9000). Flags block: one bit per quantity of the layout
(MSB first, whole bytes), then one byte per flagged quantity, bit i set for FLAG_BITS[i].

Nothing is allocated per reading: the Encoder writes into its own buffer (allocated once) and keeps
the previous reading's codes in a preallocated array.
"""
from array import array

try:
    from micropython import const
except ImportError:  # CPython fallback of the simulator
    def const(x):
        return x

FPORT_V1 = const(1)
EPOCH = const(1577836800)  # 2020-01-01T00:00:00Z: times travel as seconds since then (31 bits)
HEADER_BYTES = const(4)
SEQ_LIMIT = const(0x10000000)  # seq travels in 28 bits of the header
_TIME_LIMIT = const(0x7FFFFFFF)
_PM = const(0)  # "scale" of the piecewise particle-mass code
_HUGE = 1e30  # beyond any field: infinities and absurd values are "no value"
_NHUGE = -1e30

# quantity -> (bits, scale, low): code = round((value - low) * scale); the all-ones code is "no value".
# Steps are the display decimals of kits/quantities.json; ranges cover its valid_range.
FIELDS = {
    "pm1": (14, _PM, 0), "pm2_5": (14, _PM, 0), "pm4": (14, _PM, 0), "pm10": (14, _PM, 0),
    "pn_gt0_3": (24, 1, 0), "pn_gt0_5": (24, 1, 0), "pn_gt1_0": (24, 1, 0),
    "pn_gt2_5": (24, 1, 0), "pn_gt5_0": (24, 1, 0), "pn_gt10": (24, 1, 0),
    "pn_lt0_5": (20, 10, 0), "pn_lt1_0": (20, 10, 0), "pn_lt2_5": (20, 10, 0),
    "pn_lt4_0": (20, 10, 0), "pn_lt10": (20, 10, 0),
    "typical_particle_size": (11, 100, 0),
    "temperature": (11, 10, -60), "humidity": (10, 10, 0), "pressure": (13, 10, 300),
    "noise_laeq": (11, 10, 0), "noise_lamin": (11, 10, 0), "noise_lamax": (11, 10, 0),
    "gas_resistance": (30, 1, 0), "pollen_proxy": (27, 100, 0),
}

_PMS = ("pm1", "pm2_5", "pm10", "pn_gt0_3", "pn_gt0_5", "pn_gt1_0", "pn_gt2_5", "pn_gt5_0", "pn_gt10")
_SPS = ("pm1", "pm2_5", "pm4", "pm10", "pn_lt0_5", "pn_lt1_0", "pn_lt2_5", "pn_lt4_0", "pn_lt10",
        "typical_particle_size")
_NOISE = ("noise_laeq", "noise_lamin", "noise_lamax")

# layout id -> (kit, variant, quantities in wire order). A layout id is never reused for another list.
LAYOUTS = {
    1: ("air-outdoor-v1", None, ("pm2_5", "pm10", "temperature", "humidity", "pressure")),
    2: ("air-outdoor-v1", "sps30", _SPS + ("temperature", "humidity", "pressure")),
    3: ("air-indoor-v1", None, _PMS + ("temperature", "humidity", "pressure", "gas_resistance")),
    4: ("noise-v1", None, _NOISE),
    5: ("pollen-v1", None, _PMS + ("temperature", "humidity", "pollen_proxy")),
    6: ("pollen-v1", "sps30", _SPS + ("temperature", "humidity", "pollen_proxy")),
    7: ("exhibition-v1", None, _PMS + ("temperature", "humidity", "pressure", "gas_resistance") + _NOISE
        + ("pollen_proxy",)),
}

FLAG_BITS = ("warmup", "out_of_range", "few_samples", "high_humidity", "overload")


def layout_for(kit, variant=None):
    """The layout id of a kit (and variant); ValueError if none (a new kit needs a layout in the spec)."""
    for lid in LAYOUTS:
        k, v, _ = LAYOUTS[lid]
        if k == kit and v == variant:
            return lid
    # the noise kit's variants only change the microphone: same quantities
    for lid in LAYOUTS:
        k, v, _ = LAYOUTS[lid]
        if k == kit and v is None:
            return lid
    raise ValueError("kit %s has no LoRaWAN payload layout (docs/wire-format.md)" % kit)


def _round(x):
    return int(x + 0.5) if x >= 0 else -int(0.5 - x)


def code(q, v):
    """The wire code of value `v` of quantity `q` (the all-ones code when it cannot be carried)."""
    bits, scale, low = FIELDS[q]
    top = (1 << bits) - 1
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        return top
    if v != v or v > _HUGE or v < _NHUGE:  # NaN or infinite (no float built per call)
        return top
    if scale == _PM:
        c = _round(v * 10)
        if c >= 10000:
            c = _round(v) + 9000
    else:
        c = _round((v - low) * scale)
    return c if 0 <= c < top else top


class Encoder:
    """Encodes batches of readings for one layout into a buffer of `size` bytes, allocated once."""

    def __init__(self, layout_id, size=222):
        self.layout = layout_id
        self.qs = LAYOUTS[layout_id][2]
        self.buf = bytearray(size)
        self.skipped = 0  # values the layout or the field could not carry, over the life of the encoder
        n = len(self.qs)
        self._prev = array("i", [0] * n)
        self._cur = array("i", [0] * n)
        self._fl = array("B", [0] * n)
        self._limit = size

    # -- low-level writers; each returns the new position, or -1 past the limit -------------------
    def _bits(self, pos, value, n):
        if (pos + n + 7) >> 3 > self._limit:
            return -1
        buf = self.buf
        while n:
            n -= 1
            i = pos >> 3
            m = 0x80 >> (pos & 7)
            if (value >> n) & 1:
                buf[i] |= m
            else:
                buf[i] &= 0xFF ^ m
            pos += 1
        return pos

    def _varint(self, pos, v):
        buf = self.buf
        while True:
            if pos >= self._limit:
                return -1
            if v < 0x80:
                buf[pos] = v
                return pos + 1
            buf[pos] = (v & 0x7F) | 0x80
            v >>= 7
            pos += 1

    def _zigzag(self, pos, d):
        return self._varint(pos, d << 1 if d >= 0 else ((-d) << 1) - 1)

    def _flags_of(self, r):
        """Fill self._fl from r["flags"]; True if any known flag is set."""
        flags = r.get("flags")
        fl = self._fl
        qs = self.qs
        anyf = False
        for i in range(len(qs)):
            m = 0
            if flags:
                names = flags.get(qs[i])
                if names:
                    for b in range(len(FLAG_BITS)):
                        if FLAG_BITS[b] in names:
                            m |= 1 << b
            fl[i] = m
            if m:
                anyf = True
        return anyf

    def _flags_block(self, pos):
        fl = self._fl
        n = len(fl)
        start = pos
        nbytes = (n + 7) >> 3
        if pos + nbytes > self._limit:
            return -1
        for i in range(nbytes):
            self.buf[pos + i] = 0
        for i in range(n):
            if fl[i]:
                self.buf[start + (i >> 3)] |= 0x80 >> (i & 7)
        pos += nbytes
        for i in range(n):
            if fl[i]:
                if pos >= self._limit:
                    return -1
                self.buf[pos] = fl[i]
                pos += 1
        return pos

    def _codes(self, r):
        vals = r["values"]
        qs = self.qs
        cur = self._cur
        for i in range(len(qs)):
            v = vals.get(qs[i])
            c = code(qs[i], v)
            cur[i] = c
            if v is not None and c == (1 << FIELDS[qs[i]][0]) - 1:
                self.skipped += 1
        for q in vals:
            if q not in FIELDS or q not in qs:
                self.skipped += 1

    def _first(self, r, seq, t):
        if not 0 <= seq < SEQ_LIMIT:
            raise ValueError("seq %d beyond the LoRaWAN payload's 28 bits" % seq)
        dt = t - EPOCH
        if not 0 <= dt <= _TIME_LIMIT:
            raise ValueError("reading %d: time %d not representable (before 2020?)" % (seq, t))
        hasf = self._flags_of(r)
        self._codes(r)
        pos = self._bits(0, self.layout, 4)
        pos = self._bits(pos, seq, 28)
        pos = self._bits(pos, 1 if hasf else 0, 1)
        pos = self._bits(pos, dt, 31)
        if pos < 0:
            return -1
        qs = self.qs
        for i in range(len(qs)):
            pos = self._bits(pos, self._cur[i], FIELDS[qs[i]][0])
            if pos < 0:
                return -1
        pos = self._bits(pos, 0, (8 - (pos & 7)) & 7)  # pad to a whole byte
        if pos < 0:
            return -1
        pos >>= 3
        return self._flags_block(pos) if hasf else pos

    def _next(self, pos, r, dseq, dt):
        hasf = self._flags_of(r)
        self._codes(r)
        pos = self._varint(pos, ((dseq - 1) << 1) | (1 if hasf else 0))
        if pos < 0:
            return -1
        pos = self._zigzag(pos, dt)
        cur = self._cur
        prev = self._prev
        for i in range(len(cur)):
            if pos < 0:
                return -1
            pos = self._zigzag(pos, cur[i] - prev[i])
        if pos < 0:
            return -1
        return self._flags_block(pos) if hasf else pos

    def encode(self, readings, limit=None):
        """Encode the longest prefix of `readings` (oldest first, increasing seq) that fits in `limit`
        bytes (default: the buffer). Returns (memoryview of the payload, valid until the next call,
        number of readings). ValueError if not even the first reading fits or can be carried."""
        self._limit = len(self.buf) if limit is None or limit > len(self.buf) else limit
        pos = 0
        n = 0
        pseq = 0
        pt = 0
        for r in readings:
            seq = r["seq"]
            t = _round(r["time"])
            if n == 0:
                end = self._first(r, seq, t)
                if end < 0:
                    raise ValueError("LoRaWAN payload: one reading does not fit in %d bytes" % self._limit)
            else:
                if seq <= pseq:
                    raise ValueError("readings out of order: seq %d after %d" % (seq, pseq))
                end = self._next(pos, r, seq - pseq, t - pt)
                if end < 0:
                    break
            pos = end
            n += 1
            pseq = seq
            pt = t
            prev = self._prev
            cur = self._cur
            for i in range(len(cur)):
                prev[i] = cur[i]
        return memoryview(self.buf)[:pos], n
