"""LoRa time on air and the daily budgets of a LoRaWAN device (EU868).

Time on air, from the Semtech SX1276/77/78/79 datasheet (rev. 7, section 4.1.1.7) and AN1200.13
("LoRa Modem Designer's Guide"):
    T_sym      = 2^SF / BW
    T_preamble = (n_preamble + 4.25) * T_sym
    n_payload  = 8 + max(ceil((8 PL - 4 SF + 28 + 16 CRC - 20 IH) / (4 (SF - 2 DE))) * (CR + 4), 0)
    ToA        = T_preamble + n_payload * T_sym
with PL the PHY payload in bytes, CRC = 1 (uplinks carry a CRC), IH = 0 (explicit header), CR = 1
(coding rate 4/5), DE = 1 (low data-rate optimisation) when T_sym >= 16 ms, i.e. SF11 and SF12 at
125 kHz, and an 8-symbol preamble (LoRaWAN Regional Parameters RP002, EU863-870).
A LoRaWAN uplink's PHY payload is the application payload plus 13 bytes: MHDR 1, DevAddr 4, FCtrl 1,
FCnt 2, FPort 1, MIC 4 (LoRaWAN 1.0.3 specification, section 4), without MAC commands in FOpts.

EU868 data rates and maximum application payload N (RP002-1.0.3, EU863-870 "DataRate" and
"Maximum payload size" tables, no repeater): DR0 SF12, DR1 SF11, DR2 SF10 -> 51 bytes; DR3 SF9 ->
115; DR4 SF8, DR5 SF7 -> 222; all at 125 kHz.
"""
try:
    from micropython import const
except ImportError:  # CPython fallback of the simulator
    def const(x):
        return x

LORAWAN_OVERHEAD = const(13)
JOIN_REQUEST_PHY = const(23)  # MHDR 1 + JoinEUI 8 + DevEUI 8 + DevNonce 2 + MIC 4 (LoRaWAN 1.0.3, 6.2.4)
SF_OF_DR = (12, 11, 10, 9, 8, 7)
MAX_PAYLOAD_OF_DR = (51, 51, 51, 115, 222, 222)
DAY_MS = const(86400000)


def time_on_air_us(phy_bytes, sf, bw_hz=125000, cr=1, preamble=8, crc=True, explicit_header=True):
    """Time on air of a LoRa frame of `phy_bytes` PHY payload bytes, in microseconds (integer)."""
    t_sym_us = (1 << sf) * 1000000 // bw_hz
    de = 1 if t_sym_us >= 16000 else 0
    num = 8 * phy_bytes - 4 * sf + 28 + (16 if crc else 0) - (0 if explicit_header else 20)
    den = 4 * (sf - 2 * de)
    n = 8 + max(-(-num // den) * (cr + 4), 0)  # ceil for integers
    return (4 * preamble + 17) * t_sym_us // 4 + n * t_sym_us


def uplink_us(app_bytes, dr):
    """Time on air of an EU868 uplink carrying `app_bytes` of application payload at data rate `dr`."""
    return time_on_air_us(app_bytes + LORAWAN_OVERHEAD, SF_OF_DR[dr])


class Budget:
    """A token bucket that keeps a spend (airtime in us, or a count of downlinks) within `per_day` in any
    24 hours: it holds at most `burst`, refilled at (per_day - burst) per day, so that a full bucket
    plus a day's refill never exceeds `per_day`. It starts full. per_day None: no limit."""

    def __init__(self, per_day, burst, now_ms):
        self.per_day = per_day
        self.burst = burst
        self.tokens = burst
        self._rate = 0 if per_day is None else (per_day - burst) / DAY_MS  # per ms
        self._t = now_ms
        self.spent = 0  # over the life of the object

    def _refill(self, now_ms, diff):
        dt = diff(now_ms, self._t)
        if dt > 0:
            self.tokens = min(self.burst, self.tokens + dt * self._rate)
            self._t = now_ms

    def wait_ms(self, cost, now_ms, diff):
        """Milliseconds until `cost` can be spent (0: now). `diff` is time.ticks_diff."""
        if self.per_day is None:
            return 0
        if cost > self.burst:
            raise ValueError("a single spend of %s exceeds the bucket (%s)" % (cost, self.burst))
        self._refill(now_ms, diff)
        if self.tokens >= cost:
            return 0
        return int((cost - self.tokens) / self._rate) + 1

    def spend(self, cost, now_ms, diff):
        self.spent += cost
        if self.per_day is None:
            return
        self._refill(now_ms, diff)
        self.tokens -= cost  # may go negative (a join or retry the modem made anyway): wait longer
