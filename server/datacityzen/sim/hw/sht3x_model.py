"""Simulated Sensirion SHT3x-DIS on I2C, from the datasheet (version 5, May 2018).

Commands (16 bit, MSB first): single shot 0x2400 / 0x240B / 0x2416 (high / medium / low repeatability,
no clock stretching) and 0x2C06 / 0x2C0D / 0x2C10 (with clock stretching, table 9); read status 0xF32D,
clear status 0x3041, soft reset 0x30A2, heater on 0x306D / off 0x3066, break 0x3093. A measurement
lasts the datasheet's typical time (12.5 / 4.5 / 2.5 ms, table 4; with clock stretching the answer is there at
once, as the sensor would hold the clock); the answer is T word, CRC, RH word, CRC, from the
environment of sim_env (S_T = (T + 45) / 175 * 65535, S_RH = RH / 100 * 65535, section 4.13). Status
register (table 17): bit 4 "reset detected" set at power-up and after a soft reset, bit 13 heater on,
bit 1 "last command not processed" for an unknown command. An unknown command is ignored.

Config: {"chip": "sht3x", "fixed_raw": [S_T, S_RH] (always answer these), "faults": {...}} with the
faults of sensirion_model.py.
"""
import sensirion_model

# Typical durations (table 4: 12.5 / 4.5 / 2.5 ms); a reader waits the maximum (15 / 6 / 4 ms).
_MEASURE_S = {0x2400: 0.0125, 0x240B: 0.0045, 0x2416: 0.0025, 0x2C06: 0.0, 0x2C0D: 0.0, 0x2C10: 0.0}


def _clip16(x):
    return max(0, min(65535, int(round(x))))


class SHT3xModel(sensirion_model.SensirionModel):
    def __init__(self, env, cfg):
        super().__init__(env, cfg)
        self.fixed = cfg.get("fixed_raw")
        self.status = 0x0010  # reset detected (power-up)
        self.heater = False
        self.measurements = 0

    def _measure(self):
        self.measurements += 1
        if self.fixed:
            st, srh = self.fixed
        else:
            t = sensirion_model.sim_env.now()
            temp = self.env.temperature(t) + (3.0 if self.heater else 0.0)
            st = _clip16((temp + 45.0) / 175.0 * 65535.0)
            srh = _clip16(self.env.humidity(t) / 100.0 * 65535.0)
        return sensirion_model.words(st, srh)

    def command(self, cmd):
        self.commands.append(cmd.hex())
        if len(cmd) != 2:
            self.status |= 0x0002
            return
        c = (cmd[0] << 8) | cmd[1]
        if c in _MEASURE_S:
            self.status &= ~0x0002
            self._answer_after(_MEASURE_S[c], self._measure)
        elif c == 0xF32D:
            self._answer_after(0.0, sensirion_model.words(self.status))
        elif c == 0x3041:
            self.status &= ~0x8C13  # clears alert and reset flags, command and write-CRC status
        elif c == 0x30A2:
            self.heater = False
            self.status = 0x0010
            self._answer = None
        elif c in (0x306D, 0x3066):
            self.heater = c == 0x306D
            self.status = (self.status | 0x2000) if self.heater else (self.status & ~0x2000)
        elif c == 0x3093:
            self._answer = None
        else:
            self.status |= 0x0002


Model = SHT3xModel  # machine.py finds chip models by this name
