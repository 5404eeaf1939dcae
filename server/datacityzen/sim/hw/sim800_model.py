"""Simulated SIMCom SIM800 (2G/GPRS) on a UART: the TCP/IP commands of "SIM800 Series_AT Command
Manual_V1.09" chapter 8 in single-connection mode, with the IP state machine they follow (IP INITIAL
-> AT+CSTT -> IP START -> AT+CIICR -> IP GPRSACT -> AT+CIFSR -> IP STATUS -> AT+CIPSTART -> CONNECT OK;
AT+CIPSHUT back to IP INITIAL; a command out of its state gives ERROR), manual receive (AT+CIPRXGET)
and the "CLOSED" URC. See at_modem_model.py for the network and the fault options."""
from at_modem_model import STAT_HOME, ATModemModel


class Model(ATModemModel):
    def __init__(self, env, cfg):
        super().__init__(env, cfg)
        self.state = "IP INITIAL"
        self.rxget = 0
        self._urc_due = True  # "+CIPRXGET: 1" is said once, then again only after a read

    def handle(self, name, arg):
        if name in ("CREG", "CGREG") and arg == "?":
            self.say("+%s: 0,%d" % (name, self.stat()))
            self.say("OK")
        elif name == "CIPSHUT":
            self.disconnect()
            self.bearer = False
            self.state = "IP INITIAL"
            self.say("SHUT OK")
        elif name == "CIPRXGET":
            return self._rxget(self.params(arg))
        elif name == "CSTT" and arg.startswith("="):
            if self.state != "IP INITIAL":
                self.say("ERROR")
            else:
                self.apn = self.params(arg)[0]
                self.state = "IP START"
                self.say("OK")
        elif name == "CIICR":
            if self.state != "IP START" or self.stat() != STAT_HOME:
                self.say("ERROR")
            else:
                self.bearer = True
                self.state = "IP GPRSACT"
                self.say("OK")
        elif name == "CIFSR":
            if not self.bearer:
                self.say("ERROR")
            else:
                self.state = "IP STATUS"
                self.say("10.64.12.7")  # the address alone, no OK (manual 8.2.9)
        elif name == "CIPSTART" and arg.startswith("="):
            p = self.params(arg)
            if self.sock is not None:
                self.say("ALREADY CONNECT")
            elif self.state not in ("IP STATUS", "TCP CLOSED") or not self.bearer:
                self.say("ERROR")
            else:
                self.say("OK")
                if p[0].upper() == "TCP" and self.connect(p[1], p[2]):
                    self.state = "CONNECT OK"
                    self._urc_due = True
                    self.say("CONNECT OK")
                else:
                    self.state = "TCP CLOSED"
                    self.say("STATE: TCP CLOSED")
                    self.say("CONNECT FAIL")
        elif name == "CIPSEND" and arg.startswith("="):
            n = int(arg[1:])
            if self.sock is None:
                self.say("ERROR")
            else:
                self.prompt(n, self._sent)
        elif name == "CIPCLOSE":
            if self.sock is None:
                self.say("ERROR")
            else:
                self.disconnect()
                self.state = "TCP CLOSED"
                self.say("CLOSE OK")
        else:
            return False
        return True

    def _sent(self, data):
        self.say("SEND OK" if self.send(data) else "SEND FAIL")

    def _rxget(self, p):
        mode = int(p[0])
        if mode == 1:
            self.rxget = 1
            self.say("OK")
        elif mode == 2 and self.rxget:
            n = min(int(p[1]) if len(p) > 1 else 1460, len(self.rx))
            data, self.rx = bytes(self.rx[:n]), self.rx[n:]
            self._out += b"\r\n+CIPRXGET: 2,%d,%d\r\n" % (n, len(self.rx)) + data
            self.say("OK")
            if not self.rx:
                self._urc_due = True
        elif mode == 4 and self.rxget:
            self.say("+CIPRXGET: 4,%d" % len(self.rx))
            self.say("OK")
        else:
            self.say("ERROR")
        return True

    def on_data(self):
        if self.rxget and self._urc_due:
            self._urc_due = False
            self.say("+CIPRXGET: 1")

    def on_closed(self):
        self.state = "TCP CLOSED"
        self.rx = bytearray()
        self.say("CLOSED")

    def on_bearer_lost(self):
        self.state = "PDP DEACT"
        self.say("+PDP: DEACT")
