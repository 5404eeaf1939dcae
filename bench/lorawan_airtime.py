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


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "firmware/transport" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


wire = load("lorawan_wire")
air = load("airtime")

BASE = {"pm1": 6.1, "pm2_5": 9.4, "pm4": 11.0, "pm10": 14.8, "pn_gt0_3": 1320, "pn_gt0_5": 402,
        "pn_gt1_0": 61, "pn_gt2_5": 7, "pn_gt5_0": 2, "pn_gt10": 1, "pn_lt0_5": 38.2, "pn_lt1_0": 45.1,
        "pn_lt2_5": 46.0, "pn_lt4_0": 46.2, "pn_lt10": 46.3, "typical_particle_size": 0.54,
        "temperature": 14.2, "humidity": 71.3, "pressure": 1016.3, "noise_laeq": 52.4,
        "noise_lamin": 44.1, "noise_lamax": 67.9, "gas_resistance": 84211, "pollen_proxy": 3.21}


def series(qs, interval, n=60):
    """A plausible run of readings: weather moving slowly, particles and noise by a few percent."""
    out = []
    for i in range(n):
        v = {}
        for q in qs:
            w = (i * 7 + len(q)) % 5 - 2
            x = BASE[q]
            if q == "temperature":
                x += 0.1 * w
            elif q in ("humidity", "pressure"):
                x += 0.2 * w
            elif q.startswith("noise"):
                x += 1.3 * w
            else:
                x *= 1 + 0.03 * w
            v[q] = x
        out.append({"seq": 1000 + i, "time": 1795449600 + int(interval * i), "values": v})
    return out


def kit_interval(kit):
    return json.loads((ROOT / "kits" / f"{kit}.json").read_text())["sampling"]["interval_s"]


def figures():
    rows = []
    for lid, (kit, variant, qs) in sorted(wire.LAYOUTS.items()):
        interval = kit_interval(kit)
        rs = series(qs, interval)
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
