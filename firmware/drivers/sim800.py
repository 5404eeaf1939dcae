"""SIMCom SIM800 (GSM/GPRS, 2G) TCP client over AT commands.

Per "SIM800 Series_AT Command Manual_V1.09" (SIMCom, 2015-08-03), chapter 8 (TCP/IP), single
connection (AT+CIPMUX=0, the default):
- bearer: AT+CIPSHUT ("SHUT OK", back to IP INITIAL), AT+CSTT="<apn>","<user>","<password>" (IP
  START), AT+CIICR (bring up GPRS, up to 85 s; IP GPRSACT), AT+CIFSR (the local IP address, answered
  with the address alone: no OK);
- AT+CIPSTART="TCP","<host>",<port>: OK, then "CONNECT OK", "ALREADY CONNECT" or "CONNECT FAIL";
- AT+CIPSEND=<length>: the prompt ">", the data, then "SEND OK" or "SEND FAIL";
- receiving: with AT+CIPRXGET=1 (manual mode) the modem keeps received data and says
  "+CIPRXGET: 1"; AT+CIPRXGET=2,<reqlength> answers "+CIPRXGET: 2,<cnflength>,<left>", the data, OK;
- "CLOSED" when the peer or the network drops the connection, "+PDP: DEACT" when GPRS goes down;
- registration: AT+CREG? (circuit-switched) and AT+CGREG? (GPRS), 3GPP TS 27.007 7.2 and 10.1.20.
"""
from micropython import const

from drivers.at_modem import ModemBase, ModemError

_READ_MAX = const(1460)  # AT+CIPRXGET=2,<reqlength>: 1..1460 (the manual's range)


class Sim800(ModemBase):
    name = "sim800"
    urcs = (b"CLOSED", b"+CIPRXGET: 1", b"+PDP: DEACT")
    max_send = 1024

    def _on_urc(self, line):
        if line.startswith(b"+CIPRXGET"):
            self.readable = True
        else:  # CLOSED, or the bearer went down with the connection on it
            self.closed = True

    async def registration(self):
        """<stat> of GPRS registration (AT+CGREG?) once the circuit-switched one (AT+CREG?) is
        registered (1 home, 5 roaming), else the latter's."""
        cs = await self._reg(b"+CREG?", b"+CREG: ")
        if cs != 1 and cs != 5:
            return cs
        return await self._reg(b"+CGREG?", b"+CGREG: ")

    async def bearer_up(self, apn, user="", password=""):
        at = self.at
        await at.command(b"+CIPSHUT", 65000, done=(b"SHUT OK",))
        self.closed = True
        await at.command(b"+CIPRXGET=1")
        await at.command(('+CSTT="%s","%s","%s"' % (apn, user, password)).encode(), label=b"+CSTT")
        await at.command(b"+CIICR", 85000)
        ip = (await at.command(b"+CIFSR", 10000, first=True))[0]
        if ip.count(b".") != 3:
            raise ModemError(b"+CIFSR", ip.decode())
        return ip.decode()

    async def open(self, host, port):
        self.readable = False
        await self.at.command(('+CIPSTART="TCP","%s",%d' % (host, port)).encode(), 75000,
                              done=(b"CONNECT OK", b"ALREADY CONNECT"), fail=(b"CONNECT FAIL",))
        self.closed = False

    async def _send_chunk(self, mv):
        await self.at.send_data(b"+CIPSEND=%d" % len(mv), mv, 20000, done=(b"SEND OK",), fail=(b"SEND FAIL",))

    async def read_into(self, buf):
        """Up to len(buf) received bytes into buf; their number (0: nothing waiting)."""
        want = min(len(buf), _READ_MAX)
        n = await self.at.read_data(b"+CIPRXGET=2,%d" % want, b"+CIPRXGET: 2,", buf, False)
        if n < want:
            self.readable = False  # drained: the modem says "+CIPRXGET: 1" again when more comes
        return n

    async def close(self):
        if not self.closed:
            self.closed = True
            try:
                await self.at.command(b"+CIPCLOSE=1", 5000, done=(b"CLOSE OK",))  # 1: quick close
            except ModemError:
                pass  # already closed by the peer
