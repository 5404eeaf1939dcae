"""LoRaWAN figures per kit (docs/wire-format.md quotes them): payload v1 sizes, time on air at SF7 and
SF12, daily airtime at the kit's default interval with one reading per uplink and with batches, and
what The Things Network's fair use (30 s of airtime, 10 downlinks a day) lets through.

Uses the firmware's own encoder and airtime modules (they run under CPython too).
    python bench/lorawan_airtime.py
"""
import importlib.util
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.modules.setdefault("micropython", type(sys)("micropython"))
sys.path.insert(0, str(ROOT / "tests"))

from typical_readings import series  # noqa: E402


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "firmware/transport" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


wire = load("lorawan_wire")
air = load("airtime")

def kit_interval(kit):
    return json.loads((ROOT / "kits" / f"{kit}.json").read_text())["sampling"]["interval_s"]


def figures():
    rows = []
    for lid, (kit, variant, qs) in sorted(wire.LAYOUTS.items()):
        interval = kit_interval(kit)
        rs = series(qs, interval, 60)
        enc = wire.Encoder(lid, 222)
        first = len(enc.encode(rs[:1])[0])
        per_day = 86400 / interval
        row = {"kit": kit + (f" ({variant})" if variant else ""), "interval_s": interval,
               "readings_per_day": round(per_day), "one_reading_uplink_B": first,
               "per_uplink_51_115_222": [enc.encode(rs, limit)[1] for limit in (51, 115, 222)]}
        for dr, name in ((5, "SF7"), (0, "SF12")):
            limit = air.MAX_PAYLOAD_OF_DR[dr]
            mv, n = enc.encode(rs, limit)
            full = len(mv)
            next_avg = (full - first) / (n - 1) if n > 1 else None
            toa_one = air.uplink_us(first, dr) / 1e6
            toa_full = air.uplink_us(full, dr) / 1e6
            uplinks = math.ceil(per_day / n)
            # what fair use lets through: 30 s of airtime, and 10 downlinks (ACKs), spent by the link as
            # 9 a day sustained (airtime.Budget: a bucket of 1 refilled at 9 a day)
            by_air = 30 / toa_full * n
            row[name] = {"toa_one_ms": round(toa_one * 1000, 1), "further_reading_B": next_avg and round(next_avg, 1),
                         "per_uplink": n, "uplink_B": full, "toa_full_ms": round(toa_full * 1000, 1),
                         "daily_single_s": round(per_day * toa_one, 1), "daily_batched_s": round(uplinks * toa_full, 1),
                         "ttn_readings_per_day": int(min(by_air, 9 * n))}
        rows.append(row)
    return rows


def main():
    rows = figures()
    print(json.dumps(rows, indent=1))
    print()
    print("| kit | readings per uplink at 51 / 115 / 222 B |")
    for r in rows:
        print(f"| {r['kit']} | {' / '.join(map(str, r['per_uplink_51_115_222']))} |")
    print()
    print("| kit | interval | readings/day | 1-reading uplink | further reading (SF7) | SF7: ToA 1 reading | "
          "SF7 daily, single / batched | SF12: ToA 1 reading | SF12 daily, single / batched | "
          "readings/day within TTN fair use, SF7 / SF12 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        a, b = r["SF7"], r["SF12"]
        print(f"| {r['kit']} | {r['interval_s']} s | {r['readings_per_day']} | {r['one_reading_uplink_B']} B | "
              f"{a['further_reading_B']} B | {a['toa_one_ms']} ms | {a['daily_single_s']} s / {a['daily_batched_s']} s "
              f"({a['per_uplink']} per {a['uplink_B']} B uplink) | {b['toa_one_ms']} ms | "
              f"{b['daily_single_s']} s / {b['daily_batched_s']} s ({b['per_uplink']} per {b['uplink_B']} B) | "
              f"{a['ttn_readings_per_day']} / {b['ttn_readings_per_day']} |")


if __name__ == "__main__":
    main()
