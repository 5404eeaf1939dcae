"""Simulated Sensirion SPS30 on I2C (0x69), per "Datasheet SPS30" version 1.0, section 6.

Transaction level: the host writes a 16-bit command (plus argument words with their CRC-8) and reads
the answer of the last command. States (section 4.1): idle at power-up; measurement mode after
"start measurement" (0x0010, argument 0x0300 = float output; another format or a bad CRC is
ignored); sleep after "sleep" (0x1001, from idle only). A sleeping chip's interface is off: it acks
nothing. The first transfer wakes the interface and is not acked; a wake-up command (0x1103) within
100 ms then brings it to idle, otherwise the interface sleeps again.

While measuring, a new set of values is made every `period_s` (1 s); "read data-ready flag" (0x0202)
says 1 until "read measured values" (0x0300) takes it. Reading values when none were made since the
start gives zeros; reading again without a new set gives the previous one (section 6.3.3). "Start fan
cleaning" (0x5607) works in measurement mode only and lasts 10 s; values are not updated meanwhile.
"Stop measurement" (0x0104) returns to idle; "device reset" (0xD304) too. "Read product type"
(0xD002) answers "00080000"; "read device status register" (0xD206) the fault bits below.

Values come from sim_particles.Aerosol (consistent with the other simulated PM sensors).

Config (the address's entry in sim_hw.json): {"chip": "sps30", "period_s": 1.0, "faults":
{"crc_error_every": N (every Nth measured-values read has one bad CRC), "silent": true (acks, but
never has data ready), "unplugged": true (never acks: OSError ENODEV), "fan_error": true (status bit
4 set and no data)}}.
"""
import struct

import sim_env
import sim_particles

_ENODEV = 19
_WAKE_WINDOW_S = 0.1


def crc8(data):
    crc = 0xFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def with_crcs(data):
    """Split `data` (even length) into words and append each word's CRC, as the chip sends them."""
    out = bytearray()
    for i in range(0, len(data), 2):
        w = data[i:i + 2]
        out.extend(w)
        out.append(crc8(w))
    return out


class SPS30Model:
    def __init__(self, env, cfg):
        faults = cfg.get("faults") or {}
        self.env = env
        self.aerosol = sim_particles.Aerosol(env)
        self.period = float(cfg.get("period_s", 1.0))
        self.crc_every = int(faults.get("crc_error_every", 0))
        self.silent = bool(faults.get("silent", False))
        self.unplugged = bool(faults.get("unplugged", False))
        self.fan_error = bool(faults.get("fan_error", False))
        self.state = "idle"
        self.commands = []  # command codes received, for tests
        self.reads = 0  # measured-values reads, for fault injection
        self.cleanings = 0
        self._woken_at = None  # when a first transfer woke the sleeping interface
        self._pointer = None
        self._values = bytes(40)
        self._made = 0  # sets made since the start of measurement
        self._taken = 0  # sets read
        self._started = 0.0
        self._cleaning_until = 0.0

    # -- data ------------------------------------------------------------------------------------

    def _update(self):
        if self.state != "measuring" or self.silent or self.fan_error:
            return
        t = sim_env.now()
        n = int((t - self._started) / self.period)
        if n > self._made and t >= self._cleaning_until:
            self._made = n
            pm1, pm25, pm4, pm10, _ = self.aerosol.masses(t)
            numbers = self.aerosol.sps30_numbers(t)
            self._values = struct.pack(">10f", pm1, pm25, pm4, pm10, *numbers)

    def _answer(self):
        p = self._pointer
        if p == 0x0202:
            self._update()
            return with_crcs(bytes((0, 1 if self._made > self._taken else 0)))
        if p == 0x0300:
            self._update()
            self._taken = self._made
            self.reads += 1
            out = with_crcs(self._values)
            if self.crc_every and self.reads % self.crc_every == 0:
                out[5] ^= 0x01
            return out
        if p == 0xD002:
            return with_crcs(b"00080000" + bytes(4))
        if p == 0xD206:
            bits = (1 << 4) if self.fan_error else 0
            return with_crcs(struct.pack(">I", bits))
        return b""

    # -- I2C transactions ------------------------------------------------------------------------

    def _acked(self):
        """Raise OSError(ENODEV) for a transfer the chip does not ack (unplugged or asleep)."""
        if self.unplugged:
            raise OSError(_ENODEV)
        if self.state == "sleep":
            t = sim_env.now()
            if self._woken_at is None or t - self._woken_at > _WAKE_WINDOW_S:
                self._woken_at = t  # this transfer woke the interface, but is not acked
                raise OSError(_ENODEV)

    def i2c_write(self, buf):
        self._acked()
        if len(buf) < 2:
            return
        cmd = (buf[0] << 8) | buf[1]
        self.commands.append(cmd)
        if len(self.commands) > 50:
            self.commands.pop(0)
        if self.state == "sleep":
            if cmd == 0x1103:
                self.state = "idle"
                self._woken_at = None
            return
        self._pointer = cmd
        if cmd == 0x0010:
            if len(buf) == 5 and buf[2] == 0x03 and crc8(buf[2:4]) == buf[4] and self.state == "idle":
                self.state = "measuring"
                self._started = sim_env.now()
                self._made = self._taken = 0
                self._values = bytes(40)
        elif cmd == 0x0104:
            if self.state == "measuring":
                self.state = "idle"
        elif cmd == 0x1001:
            if self.state == "idle":
                self.state = "sleep"
                self._woken_at = None
        elif cmd == 0x5607:
            if self.state == "measuring":
                self.cleanings += 1
                self._cleaning_until = sim_env.now() + 10.0
        elif cmd == 0xD304:
            self.state = "idle"

    def i2c_read(self, buf):
        self._acked()
        data = self._answer()
        for i in range(len(buf)):
            buf[i] = data[i] if i < len(data) else 0xFF
