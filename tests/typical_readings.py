"""A plausible run of readings for any set of quantities: weather moving slowly, particles and noise by
a few percent. The LoRaWAN payload sizes depend on how readings move from one to the next (delta
coding), so tests/test_lorawan_roundtrip.py and bench/lorawan_airtime.py size uplinks with this."""

BASE = {"pm1": 6.1, "pm2_5": 9.4, "pm4": 11.0, "pm10": 14.8, "pn_gt0_3": 1320, "pn_gt0_5": 402,
        "pn_gt1_0": 61, "pn_gt2_5": 7, "pn_gt5_0": 2, "pn_gt10": 1, "pn_lt0_5": 38.2, "pn_lt1_0": 45.1,
        "pn_lt2_5": 46.0, "pn_lt4_0": 46.2, "pn_lt10": 46.3, "typical_particle_size": 0.54,
        "temperature": 14.2, "humidity": 71.3, "pressure": 1016.3, "noise_laeq": 52.4,
        "noise_lamin": 44.1, "noise_lamax": 67.9, "gas_resistance": 84211, "pollen_proxy": 3.21}


def series(qs, interval_s, n):
    """n readings of the quantities `qs`, `interval_s` apart (seq from 1000)."""
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
        out.append({"seq": 1000 + i, "time": 1795449600 + int(interval_s * i), "values": v})
    return out
