"""Simulated SIMCom SIM7080G (LTE-M / NB-IoT) on a UART: AT+CEREG?, the application network
(AT+CNCFG, AT+CNACT and its "+APP PDP" URC) and TCP client (AT+CAOPEN, AT+CASEND, AT+CARECV,
AT+CACLOSE, the "+CADATAIND" and "+CASTATE" URCs) commands of "SIM7070_SIM7080_SIM7090 Series_AT
Command Manual". See at_modem_model.py for the network and the fault options."""
from at_modem_model import STAT_HOME, ATModemModel


class Model(ATModemModel):
    DEFAULT_RTC = (1980, 1, 6)

    def __init__(self, env, cfg):
        super().__init__(env, cfg)
        self.apn = None
        self._urc_due = True

    def handle(self, name, arg):
        if name == "CEREG" and arg == "?":
            self.say("+CEREG: 0,%d" % self.stat())
            self.say("OK")
        elif name == "CREG" and arg == "?":
            self.say("+CREG: 0,%d" % self.stat())
            self.say("OK")
        elif name == "CNCFG" and arg.startswith("="):
            p = self.params(arg)
            self.apn = p[2] if len(p) > 2 else ""
            self.say("OK")
        elif name == "CNACT" and arg == "?":
            self.say('+CNACT: 0,%d,"%s"' % (1 if self.bearer else 0, "10.64.12.9" if self.bearer else "0.0.0.0"))
            self.say("+CNACT: 1,0,\"0.0.0.0\"")
            self.say("OK")
        elif name == "CNACT" and arg.startswith("="):
            p = self.params(arg)
            if p[1] == "1":
                if self.bearer or self.stat() != STAT_HOME:
                    self.say("ERROR")
                else:
                    self.bearer = True
                    self.say("OK")
                    self.say("+APP PDP: 0,ACTIVE")
            else:
                self.bearer = False
                self.disconnect()
                self.say("OK")
                self.say("+APP PDP: 0,DEACTIVE")
        elif name == "CAOPEN" and arg.startswith("="):
            p = self.params(arg)
            if not self.bearer:
                self.say("ERROR")
            elif self.sock is not None:
                self.say("+CAOPEN: 0,4")  # nonzero: failure (the connection id is in use)
                self.say("OK")
            else:
                ok = p[2].upper() == "TCP" and self.connect(p[3], p[4])
                self._urc_due = True
                self.say("+CAOPEN: 0,%d" % (0 if ok else 23))  # nonzero: failure (refused)
                self.say("OK")
        elif name == "CASEND" and arg.startswith("="):
            p = self.params(arg)
            if self.sock is None:
                self.say("ERROR")
            else:
                self.prompt(int(p[1]), self._sent)
        elif name == "CARECV" and arg.startswith("="):
            p = self.params(arg)
            n = min(int(p[1]), len(self.rx))
            if n == 0:
                self.say("+CARECV: 0")
            else:
                data, self.rx = bytes(self.rx[:n]), self.rx[n:]
                self._out += b"\r\n+CARECV: %d," % n + data + b"\r\n"
            self.say("OK")
            if not self.rx:
                self._urc_due = True
        elif name == "CACLOSE" and arg.startswith("="):
            if self.sock is None:
                self.say("ERROR")
            else:
                self.disconnect()
                self.say("OK")
        else:
            return False
        return True

    def _sent(self, data):
        self.say("OK" if self.send(data) else "ERROR")

    def on_data(self):
        if self._urc_due:
            self._urc_due = False
            self.say("+CADATAIND: 0")

    def on_closed(self):
        self.rx = bytearray()
        self.say("+CASTATE: 0,0")

    def on_bearer_lost(self):
        self.say("+APP PDP: 0,DEACTIVE")
