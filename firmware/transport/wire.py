"""Wire format v1 encoder (docs/wire-format.md): topics and JSON payloads for IP links.

Numbers are formatted here rather than by json.dumps: on the ESP32 floats are single precision, and
repr() of a rounded float can print noise digits (1016.3099). Each value is written with the decimals
of kits/quantities.json plus one (so rounding never costs more than a tenth of the displayed
resolution), trailing zeros stripped. A value that is not a finite number is left out, as a failed
sensor's value is: a NaN on the wire would make the server reject the whole batch.
"""
import json

try:
    from micropython import const
except ImportError:  # CPython fallback of the simulator
    def const(x):
        return x

VERSION = const(1)
MAX_PAYLOAD = const(16384)  # bytes, the uplink limit of the spec
MAX_READINGS = const(100)  # readings per uplink, the spec's limit

# quantity id -> decimals on the wire (= quantities.json `decimals` + 1; a test keeps them in step).
DECIMALS = {
    "pm1": 2, "pm2_5": 2, "pm4": 2, "pm10": 2,
    "pn_gt0_3": 1, "pn_gt0_5": 1, "pn_gt1_0": 1, "pn_gt2_5": 1, "pn_gt5_0": 1, "pn_gt10": 1,
    "pn_lt0_5": 2, "pn_lt1_0": 2, "pn_lt2_5": 2, "pn_lt4_0": 2, "pn_lt10": 2,
    "typical_particle_size": 3,
    "temperature": 2, "humidity": 2, "pressure": 2,
    "noise_laeq": 2, "noise_lamin": 2, "noise_lamax": 2,
    "gas_resistance": 1, "pollen_proxy": 3,
}
_DEFAULT_DECIMALS = const(3)
_TIME_DECIMALS = const(3)  # a fractional time is written to the millisecond
_POW10 = (1, 10, 100, 1000, 10000)
_SEP = (",", ":")
# bytes: an uplink is written in pieces of about this size (batch_pieces). At the send, the cycle's
# peak, the heap is full of small holes: 128-byte pieces fit where 256-byte ones made exhibition-v1's
# cycle need 1 KB more in 3 runs of 7 on a loaded machine (0 of 7 at 128).
_PIECE = const(128)


def topic_up(device):
    return "dcz/v1/" + device + "/up"


def topic_status(device):
    return "dcz/v1/" + device + "/status"


def topic_config(device):
    return "dcz/v1/" + device + "/config"


def fmt_number(v, decimals):
    """`v` rounded to `decimals` places as compact JSON text, or None if `v` is not a finite number."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if isinstance(v, int):
        return str(v)
    if v != v or v in (float("inf"), float("-inf")):
        return None
    n = int(round(v * _POW10[decimals]))
    if n == 0:
        return "0"
    sign = "-" if n < 0 else ""
    s = str(-n if n < 0 else n)
    if decimals == 0:
        return sign + s
    if len(s) <= decimals:
        s = "0" * (decimals + 1 - len(s)) + s
    frac = s[-decimals:].rstrip("0")
    return sign + s[:-decimals] + ("." + frac if frac else "")


def reading_parts(r):
    """One reading as JSON, in small parts (bytes); flags and errors left out when empty.

    An uplink is measured and written from these parts (fit_batch, batch_pieces), so no reading has
    to exist in one piece: in the middle of a send, a fragmented heap fails to give the 450 bytes in
    one block that a reading of 17 values takes (exhibition-v1)."""
    t = fmt_number(r["time"], _TIME_DECIMALS)
    if t is None:
        raise ValueError("reading %s has no valid time" % r.get("seq"))
    yield b'{"seq":%d,"time":' % r["seq"]
    yield t.encode()
    yield b',"values":{'
    sep = ""
    for q, v in r["values"].items():
        s = fmt_number(v, DECIMALS.get(q, _DEFAULT_DECIMALS))
        if s is None:
            continue
        yield ("%s%s:%s" % (sep, json.dumps(q), s)).encode()
        sep = ","
    yield b"}"
    flags = r.get("flags")
    if flags:
        yield b',"flags":' + json.dumps(flags, separators=_SEP).encode()
    errors = r.get("errors")
    if errors:
        yield b',"errors":' + json.dumps(errors, separators=_SEP).encode()
    yield b"}"


def uplink_head(device, kit, firmware, sent=None):
    """The uplink payload's beginning (bytes), up to its readings array.

    `sent`: the device clock's Unix time (whole seconds) as the uplink is sent, so the server can tell
    a clock that runs ahead from the time it received the uplink (docs/wire-format.md)."""
    return ('{"version":1,"device":%s,"kit":%s,"firmware":%s,%s"readings":[' % (
        json.dumps(device), json.dumps(kit), json.dumps(firmware),
        "" if sent is None else '"sent":%d,' % sent)).encode()


def fit_batch(head, readings, start=0, limit=MAX_PAYLOAD):
    """(n, size): how many readings from readings[start] on (at most 100) fit an uplink of `limit`
    bytes that begins with `head` (uplink_head), and that uplink's size in bytes.

    ValueError if not even one fits. Each reading is encoded here only to be measured: an uplink is
    then written by batch_pieces() as it is sent, so it never exists in one piece (a 30-reading batch
    fragments a 110 KiB heap enough that a fresh 5 KiB allocation can fail)."""
    size = len(head) + 2  # the closing "]}"
    n = 0
    while start + n < len(readings) and n < MAX_READINGS:
        more = 1 if n else 0  # the comma
        for part in reading_parts(readings[start + n]):
            more += len(part)
        if size + more > limit:
            break
        size += more
        n += 1
    if n == 0:
        raise ValueError("uplink: no reading fits in %d bytes" % limit)
    return n, size


def batch_pieces(head, readings, start, n):
    """The uplink of readings[start:start + n] as bytes pieces of about _PIECE bytes: `head`, the
    readings, the closing. fit_batch() gives n and the pieces' total size."""
    yield head
    piece = bytearray()
    for i in range(start, start + n):
        if i > start:
            piece += b","
        for part in reading_parts(readings[i]):
            piece += part
            if len(piece) >= _PIECE:
                yield piece
                piece = bytearray()  # a new one: the stream may keep the last until it drains
    piece += b"]}"
    yield piece


def encode_status(status):
    """Status payload: `status` must hold "device" and "state"; "version" is added."""
    if "device" not in status or "state" not in status:
        raise ValueError("status needs device and state")
    if "version" in status:
        status = dict(status)
        del status["version"]
    return ('{"version":1,' + json.dumps(status, separators=_SEP)[1:]).encode()


def offline_will(device):
    return ('{"version":1,"device":%s,"state":"offline"}' % json.dumps(device)).encode()


def decode_config(payload):
    """A downlink config as a dict to overlay on the device's own (without "version").

    ValueError if it is not a JSON object of version 1.
    """
    try:
        cfg = json.loads(payload)
    except ValueError:
        raise ValueError("config: not JSON")
    if not isinstance(cfg, dict):
        raise ValueError("config: not a JSON object")
    v = cfg.pop("version", None)
    if v != VERSION or isinstance(v, bool):
        raise ValueError("config: version %r, expected 1" % (v,))
    return cfg
