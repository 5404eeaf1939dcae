"""Pollen proxy: the coarsest channel the kit's particle sensor has, as an indicator. Not a pollen count.

Optical PM sensors see particles up to about 10 um; most allergenic pollen grains are 15-100 um
(docs/pollen.md, after ../shared/guide/reference.md "Pollen"). What they can offer is the coarse end
of their range, which rises with pollen fragments, whole small grains, dust and spores alike:
    PMS5003/PMS7003  pn_gt5_0: particles above 5 um per 0.1 L (per dL). The counts are cumulative,
                     so this already includes the >10 um count; adding pn_gt10 would count it twice.
    SPS30            (pn_lt10 - pn_lt4_0) * 100: particles between 4 and 10 um, from #/cm3 to per dL
                     (1 dL = 100 cm3), so it reads on the same scale as the PMS channel.
    SDS011           pm10 - pm2_5: the coarse mass, ug/m3 (the SDS011 gives no counts).
The first of these the cycle's values allow is used, in that order. The value's meaning therefore
depends on the kit's PM sensor (the kit id says which): compare a device with itself over time,
never a PMS kit with an SDS011 kit.

Flags on pollen_proxy:
    high_humidity  relative humidity above `high_humidity_pct` (kit "pollen" options; default 75 %):
                   water-swollen droplets and fog read as coarse particles. Low-cost PM sensors
                   over-read above about 70-75 % RH (reference.md, "PM2.5 corrections").
    out_of_range   a negative difference (one channel's noise exceeding the other); kept as computed.
    few_samples    inherited from the channels it is computed from.
No humidity value in the cycle (no climate sensor, or it failed) means no high_humidity judgement.
"""
HIGH_HUMIDITY_PCT = 75  # reference.md: readings above about 70-75 % RH deserve a flag
QUANTITY = "pollen_proxy"
_PER_DL_FROM_PER_CM3 = 100  # 1 dL = 100 cm3


def coarse(values):
    """(proxy value, source quantities) from one cycle's values, or (None, ()) if no channel fits."""
    v = values.get("pn_gt5_0")
    if v is not None:
        return v, ("pn_gt5_0",)
    hi = values.get("pn_lt10")
    lo = values.get("pn_lt4_0")
    if hi is not None and lo is not None:
        return (hi - lo) * _PER_DL_FROM_PER_CM3, ("pn_lt10", "pn_lt4_0")
    hi = values.get("pm10")
    lo = values.get("pm2_5")
    if hi is not None and lo is not None:
        return hi - lo, ("pm10", "pm2_5")
    return None, ()


class Derived:
    quantity = QUANTITY

    def __init__(self, kit):
        opts = kit.get("pollen") or {}
        self.high_humidity_pct = opts.get("high_humidity_pct", HIGH_HUMIDITY_PCT)

    def derive(self, values, flags):
        """Add pollen_proxy (and its flags) to the cycle's values; nothing when no channel fits."""
        v, sources = coarse(values)
        if v is None:
            return
        values[QUANTITY] = v
        f = []
        if v < 0:
            f.append("out_of_range")
        rh = values.get("humidity")
        if rh is not None and rh > self.high_humidity_pct:
            f.append("high_humidity")
        for q in sources:
            if "few_samples" in flags.get(q, ()) and "few_samples" not in f:
                f.append("few_samples")
        if f:
            flags[QUANTITY] = f
