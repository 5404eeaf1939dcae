"""Simulated Sensirion SHT4x on I2C, from the datasheet (version 3, April 2022).

One-byte commands (table 7): 0xFD / 0xF6 / 0xE0 measure with high / medium / low precision (typically
6.9 / 3.7 / 1.3 ms, table 4); 0x89 serial number; 0x94 soft reset; heater commands 0x39, 0x32, 0x2F, 0x24,
0x1E, 0x15 heat for 1 s or 0.1 s, then measure (the air seen is a few degrees warmer). Answers: two
16-bit words, each followed by its CRC. S_T = (T + 45) / 175 * 65535, S_RH = (RH + 6) / 125 * 65535
(section 4.6). An unknown command is NACKed on its byte (OSError 19).

Config: {"chip": "sht4x", "serial": 0x0F2A3B4C, "fixed_raw": [S_T, S_RH], "faults": {...}} with the
faults of sensirion_model.py.
"""
import sensirion_model

# Typical durations (table 4: 6.9 / 3.7 / 1.3 ms); a reader waits the maximum (8.3 / 4.5 / 1.7 ms).
_MEASURE_S = {0xFD: 0.0069, 0xF6: 0.0037, 0xE0: 0.0013}
_HEATER_S = {0x39: 1.1, 0x2F: 1.1, 0x1E: 1.1, 0x32: 0.11, 0x24: 0.11, 0x15: 0.11}


def _clip16(x):
    return max(0, min(65535, int(round(x))))


class SHT4xModel(sensirion_model.SensirionModel):
    def __init__(self, env, cfg):
        super().__init__(env, cfg)
        self.fixed = cfg.get("fixed_raw")
        self.serial = int(cfg.get("serial", 0x0F2A3B4C)) & 0xFFFFFFFF
        self.measurements = 0
        self._heated = False

    def _measure(self):
        self.measurements += 1
        if self.fixed:
            st, srh = self.fixed
        else:
            t = sensirion_model.sim_env.now()
            temp = self.env.temperature(t) + (5.0 if self._heated else 0.0)
            st = _clip16((temp + 45.0) / 175.0 * 65535.0)
            srh = _clip16((self.env.humidity(t) + 6.0) / 125.0 * 65535.0)
        self._heated = False
        return sensirion_model.words(st, srh)

    def command(self, cmd):
        self.commands.append(cmd.hex())
        if len(cmd) != 1:
            self._nack()
        c = cmd[0]
        if c in _MEASURE_S:
            self._answer_after(_MEASURE_S[c], self._measure)
        elif c in _HEATER_S:
            self._heated = True
            self._answer_after(_HEATER_S[c], self._measure)
        elif c == 0x89:
            self._answer_after(0.001, sensirion_model.words(self.serial >> 16, self.serial & 0xFFFF))
        elif c == 0x94:
            self._answer = None
        else:
            self._nack()


Model = SHT4xModel  # machine.py finds chip models by this name
