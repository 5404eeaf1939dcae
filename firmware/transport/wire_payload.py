"""The uplink payload in one piece, for tests and tools (tests/test_wire_roundtrip.py,
tests/firmware/test_transport_heap.py): the device writes an uplink a reading at a time as it sends it
(wire.fit_batch, wire.batch_pieces, mqtt_link.py) and never loads this module.
"""
from transport.wire import MAX_PAYLOAD, MAX_READINGS, batch_pieces, fit_batch, uplink_head


def encode_uplink(device, kit, firmware, readings, sent=None):
    """The uplink payload (bytes) for `readings` (oldest first). ValueError if over the spec's limits."""
    data, n = encode_batch(device, kit, firmware, readings, sent=sent)
    if n != len(readings):
        raise ValueError("uplink too large: %d readings, %d fit (see max_batch)" % (len(readings), n))
    return data


def encode_batch(device, kit, firmware, readings, limit=MAX_PAYLOAD, buf=None, sent=None):
    """Encode the longest prefix of `readings` that fits in `limit` bytes and 100 readings, in one
    piece (the links write it in pieces instead: fit_batch, batch_pieces).

    Returns (payload, number of readings encoded); ValueError if not even one fits. With `buf` (a
    bytearray) the payload is written into it and returned as a memoryview of it, valid until the
    next call, and `limit` is min(limit, len(buf)); without it the payload is a new bytes object.
    """
    if buf is not None:
        limit = min(limit, len(buf))
    head = uplink_head(device, kit, firmware, sent)
    n, size = fit_batch(head, readings, 0, limit)
    out = memoryview(bytearray(size) if buf is None else buf)
    pos = 0
    for piece in batch_pieces(head, readings, 0, n):
        out[pos:pos + len(piece)] = piece
        pos += len(piece)
    return (bytes(out) if buf is None else out[:size]), n


def max_batch(n_values, limit=MAX_PAYLOAD):
    """Conservative readings-per-uplink for readings of `n_values` quantities with a few flags/errors.

    Guidance for sizing spool.peek(); encode_batch() is the exact check.
    """
    per = 48 + 26 * n_values + 120  # seq+time, values, room for flags and one error
    n = (limit - 160) // per
    return max(1, min(MAX_READINGS, n))
