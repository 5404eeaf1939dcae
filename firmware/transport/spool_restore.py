"""A spool reopened at boot (spool.py has the layout): its state, clock anchors and time shifts read
back, its segments scanned (records counted; a segment with no intact record removed).

Needed once per boot: Spool() imports it and unloads it afterwards, so its functions do not stay in
the heap for every measure-and-publish cycle.
"""
import json
import os

from transport.spool import SEG_SUFFIX


def restore(spool):
    """Fill a new Spool from its directory (made if missing)."""
    path = spool.path
    try:
        os.stat(path)
    except OSError:
        os.mkdir(path)
    spool._acked, spool._reserved, boot, spool.dropped = _read_state(path)
    spool.boot = boot + 1
    anchors = _read_json(path, "clock", dict)  # written with str keys: JSON has no others
    spool._anchors = {int(k): anchors[k] for k in anchors}
    spool._shifts = _read_json(path, "shift", list)  # [[up to seq, seconds], ...]
    segs = spool._segs = []
    next_seq = max(spool._reserved, spool._acked + 1)
    for name in sorted(n for n in os.listdir(path) if n.endswith(SEG_SUFFIX)):
        first = int(name[:-len(SEG_SUFFIX)])
        last, count, size = spool._scan(first)
        if last < 0:  # empty or only a torn record
            os.remove(spool._seg_path(first))
            continue
        segs.append([first, last, count, size])
        if last + 1 > next_seq:
            next_seq = last + 1
    spool._next = next_seq
    spool._reserved = next_seq  # the next append reserves a fresh block (and records this boot)


def _read_state(path):
    for name in ("state", "state.tmp"):  # the .tmp file: a rename FAT could not finish (spool._replace)
        try:
            with open(path + "/" + name) as f:
                parts = f.read().split()
            v = [int(p) for p in parts]
            if len(v) == 2:  # a spool written before boots were counted
                v += [0, 0]
            if len(v) == 4:
                return v
        except (OSError, ValueError):
            pass
    return [-1, 0, 0, 0]


def _read_json(path, name, kind):
    for n in (name, name + ".tmp"):
        try:
            with open(path + "/" + n) as f:
                d = json.load(f)
            if isinstance(d, kind):
                return d
        except (OSError, ValueError):
            pass
    return kind()
