"""SIMCom SIM7080G (LTE-M / NB-IoT) TCP client over AT commands.

Per "SIM7070_SIM7080_SIM7090 Series_AT Command Manual" (SIMCom, V1.0x), the application network and
TCP/UDP chapters:
- bearer: AT+CNCFG=<pdpidx>,<ip_type>,"<apn>","<user>","<password>" then AT+CNACT=<pdpidx>,1 (OK,
  then the URC "+APP PDP: <pdpidx>,ACTIVE"); AT+CNACT? lists "+CNACT: <pdpidx>,<status>,"<ip>"";
- AT+CAOPEN=<cid>,<pdpidx>,"TCP","<host>",<port>: "+CAOPEN: <cid>,<result>" (0: connected) and OK;
- AT+CASEND=<cid>,<length>: the prompt ">", the data, OK;
- receiving: the URC "+CADATAIND: <cid>" says data is waiting; AT+CARECV=<cid>,<readlen> answers
  "+CARECV: <n>,<data>" (or "+CARECV: 0") and OK;
- "+CASTATE: <cid>,0" when the connection closes, "+APP PDP: <pdpidx>,DEACTIVE" when the bearer goes;
- registration: AT+CEREG? (EPS, 3GPP TS 27.007 10.1.22): LTE-M and NB-IoT have no circuit-switched
  domain, so AT+CREG? says nothing useful here.
"""
import asyncio
import time

from micropython import const

from drivers.at_modem import ModemBase, ModemError, ModemTimeout

_READ_MAX = const(1460)  # AT+CARECV=<cid>,<readlen>: at most 1460 bytes per read
_CID = const(0)
_PDP = const(0)


class Sim7080G(ModemBase):
    name = "sim7080g"
    urcs = (b"+CADATAIND:", b"+CASTATE:", b"+APP PDP:")
    max_send = 1024

    def __init__(self, at):
        super().__init__(at)
        self.pdp_active = False

    def _on_urc(self, line):
        if line.startswith(b"+CADATAIND"):
            self.readable = True
        elif line.startswith(b"+CASTATE"):
            if line.endswith(b",0"):
                self.closed = True
        elif line.endswith(b"DEACTIVE"):
            self.pdp_active = False
            self.closed = True
        elif line.endswith(b"ACTIVE"):
            self.pdp_active = True

    async def registration(self):
        return await self._reg(b"+CEREG?", b"+CEREG: ")

    async def bearer_up(self, apn, user="", password=""):
        at = self.at
        for line in await at.command(b"+CNACT?"):
            if line.startswith(b"+CNACT: %d,1" % _PDP):
                self.pdp_active = True
                return
        self.pdp_active = False
        await at.command(('+CNCFG=%d,1,"%s","%s","%s"' % (_PDP, apn, user, password)).encode(), label=b"+CNCFG")
        await at.command(b"+CNACT=%d,1" % _PDP, 20000)
        t0 = time.ticks_ms()
        while not self.pdp_active:  # "+APP PDP: 0,ACTIVE" follows the OK
            if time.ticks_diff(time.ticks_ms(), t0) > 30000:
                raise ModemTimeout(b"+CNACT", "bearer not active after 30 s")
            await asyncio.sleep_ms(50)
            await at.poll()

    async def open(self, host, port):
        self.readable = False
        try:  # a connection left open on <cid> (the MCU rebooted, not the modem) would refuse CAOPEN
            await self.at.command(b"+CACLOSE=%d" % _CID, 5000)
        except ModemError:
            pass  # none was open
        for line in await self.at.command(('+CAOPEN=%d,%d,"TCP","%s",%d' % (_CID, _PDP, host, port)).encode(),
                                          60000):
            if line.startswith(b"+CAOPEN:"):
                result = int(line.split(b",")[-1])
                if result:
                    raise ModemError(b"+CAOPEN", "result %d" % result)
                self.closed = False
                return
        raise ModemError(b"+CAOPEN", "no +CAOPEN line")

    async def _send_chunk(self, mv):
        await self.at.send_data(b"+CASEND=%d,%d" % (_CID, len(mv)), mv, 20000)

    async def read_into(self, buf):
        want = min(len(buf), _READ_MAX)
        n = await self.at.read_data(b"+CARECV=%d,%d" % (_CID, want), b"+CARECV: ", buf, True)
        if n < want:
            self.readable = False
        return n

    async def close(self):
        if not self.closed:
            self.closed = True
            try:
                await self.at.command(b"+CACLOSE=%d" % _CID, 5000)
            except ModemError:
                pass
