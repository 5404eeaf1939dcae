"""The clock from the link itself, under real MicroPython against the simulated modems on the fake UART:
the cellular network's time (SIMCom AT+CLTS=1, 3GPP TS 27.007 8.15 AT+CCLK?) and LoRaWAN's
DeviceTimeReq/DeviceTimeAns (LoRaWAN 1.0.3 5.9, LoRa-E5 AT+LW=DTR and AT+RTC). A cellular or LoRaWAN
kit's ESP32 has no IP route of its own, so NTP cannot set its clock: these do."""
import calendar
import json
import socket
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fwsim import run_fw
from test_lorawan_link import hw as lora_hw

MODEMS = ("sim800", "sim7080g")

CCLK = """
from drivers.utc import cclk_unix
out([cclk_unix(s.encode()) for s in LINES])
"""


def parse_cclk(lines, tmp_path):
    return run_fw(CCLK.replace("LINES", repr(lines)), tmp_path, {"seed": 1, "uart": {}, "i2c": {}})


def test_cclk_answers_to_utc_including_negative_offsets_and_the_default_clock(tmp_path):
    got = parse_cclk([
        '+CCLK: "26/12/06,05:30:00+04"',  # Paris in winter (UTC+1): 04:30 UTC
        '+CCLK: "26/07/14,12:00:00+08"',  # Paris in summer (UTC+2)
        '+CCLK: "26/03/01,01:15:00-20"',  # UTC-5: the previous day in local time is the next in UTC
        '+CCLK: "24/02/29,23:59:59-03"',  # UTC-0:45 across the leap day
        '+CCLK: "26/12/06,04:30:00"',  # a modem without zone: UTC
        '+CCLK: "04/01/01,00:00:12+00"',  # SIM800's power-up default: no time
        '+CCLK: "80/01/06,00:01:00+00"',  # SIM7080G's power-up default (1980): no time, not 2080
        '+CCLK: "23/12/31,23:59:59+00"',  # before 2024: never set
        '+CCLK: "26/13/06,04:30:00+04"',  # month 13
        '+CCLK: "26/12/06,04:30:00+97"',  # offset out of TS 27.007's -96..+96
        '+CCLK: "26/12/06 04:30:00+04"',  # not the format
        '+CCLK: 26/12/06,04:30:00+04',  # unquoted
    ], tmp_path)
    assert got == [
        calendar.timegm((2026, 12, 6, 4, 30, 0)),
        calendar.timegm((2026, 7, 14, 10, 0, 0)),
        calendar.timegm((2026, 3, 1, 6, 15, 0)),
        calendar.timegm((2024, 3, 1, 0, 44, 59)),
        calendar.timegm((2026, 12, 6, 4, 30, 0)),
        None, None, None, None, None, None, None,
    ]


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.integers(calendar.timegm((2024, 1, 2, 0, 0, 0)), calendar.timegm((2069, 12, 30, 0, 0, 0))),
                          st.integers(-96, 96)), min_size=1, max_size=40))
def test_cclk_parser_gives_back_the_utc_instant_in_any_zone(tmp_path_factory, cases):
    """Any UTC instant 2024..2069 written as TS 27.007 local time with any quarter-hour offset parses back
    to that instant."""
    lines = []
    for t, q in cases:
        tm = time.gmtime(t + q * 900)
        lines.append('+CCLK: "%02d/%02d/%02d,%02d:%02d:%02d%s%02d"' % (
            tm.tm_year % 100, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, "-" if q < 0 else "+", abs(q)))
    assert parse_cclk(lines, tmp_path_factory.mktemp("cclk")) == [t for t, _ in cases]


MODEM = """
import asyncio, time, machine
from drivers.at_modem import ATModem
from drivers.MOD import CLS
m = CLS(ATModem(machine.UART(1, baudrate=115200, timeout=0)))
res = {}
async def main():
    await m.start()
    res["clts"] = [l.decode() for l in await m.at.command(b"+CLTS?")]
    res["before_registration"] = await m.network_time()
    while await m.registration() != 1:
        await asyncio.sleep_ms(50)
    res["registered"] = await m.network_time()
    res["cclk"] = [l.decode() for l in await m.at.command(b"+CCLK?")]
    res["now"] = time.real_time()
asyncio.run(main())
out(res)
"""


def run_modem(tmp_path, modem, **opts):
    cls = {"sim800": "Sim800", "sim7080g": "Sim7080G"}[modem]
    code = MODEM.replace("MOD", modem).replace("CLS", cls)
    return run_fw(code, tmp_path, {"seed": 3, "uart": {"1": {"chip": modem}}, "i2c": {},
                                   "modem": dict({"register_s": 0.3}, **opts)})


@pytest.mark.parametrize("modem", MODEMS)
def test_modem_gives_the_network_time_once_registered(tmp_path, modem):
    res = run_modem(tmp_path, modem, tz_q=-20)  # a network in UTC-5: the answer is still UTC
    assert res["clts"] == ["+CLTS: 1"]  # start() turned the network's time on
    assert res["before_registration"] is None  # the power-up default (2004 / 1980) is no time
    assert abs(res["registered"] - res["now"]) <= 2
    assert res["cclk"][0].endswith('-20"')


@pytest.mark.parametrize("modem", MODEMS)
def test_a_network_without_time_leaves_none(tmp_path, modem):
    res = run_modem(tmp_path, modem, nitz=False)
    assert res["before_registration"] is None and res["registered"] is None
    assert res["cclk"][0].startswith('+CCLK: "04/01/01,' if modem == "sim800" else '+CCLK: "80/01/06,')


RTC = """
from drivers.utc import rtc_unix
out([rtc_unix(s) for s in LINES])
"""


def test_lora_e5_rtc_answers_to_unix(tmp_path):
    got = run_fw(RTC.replace("LINES", repr([
        "2026-12-06 04:30:00", "2026-04-30 12:30:49.465", "2024-02-29 23:59:59",
        "2020-01-01 00:00:05",  # the module's power-up clock: no time
        "2026-12-06T04:30:00", "2026-13-06 04:30:00", "2026-12-06", "ERROR(-1)"])), tmp_path,
        {"seed": 1, "uart": {}, "i2c": {}})
    assert got == [calendar.timegm((2026, 12, 6, 4, 30, 0)), calendar.timegm((2026, 4, 30, 12, 30, 49)),
                   calendar.timegm((2024, 2, 29, 23, 59, 59)), None, None, None, None, None]


def network(**kw):
    from datacityzen.sim.network_server import NetworkServer

    ns = NetworkServer("http://127.0.0.1:9", None).start()  # MAC-only frames are never posted
    ns.register("2CF7F12032308463", "dev-lw")
    return ns


DTR = """
import asyncio, machine, time
from drivers.lora_e5 import LoRaE5
m = LoRaE5(machine.UART(1, baudrate=9600, timeout=0))
res = {}
async def main():
    await m.set("MODE", "LWOTAA")
    res["join"] = await m.join()
    res["before"] = await m.rtc()
    res["dtr"] = await m.request_time()
    res["cmd"] = bytes(m._hex_command(False, b"")).decode()
    res["sent"] = await m.send(b"", False)
    res["after"] = await m.rtc()
    res["now"] = time.real_time()
asyncio.run(main())
out(res)
"""


@pytest.mark.parametrize("answered", [True, False])
def test_device_time_request_sets_the_modem_clock(tmp_path, answered):
    ns = network()
    try:
        res = run_fw(DTR, tmp_path, lora_hw(ns.port, **({} if answered else {"no_device_time": True})))
    finally:
        ns.stop()
    assert res["join"] is True and res["before"] is None  # the module's power-up clock (2020)
    assert res["dtr"] == "DTR" and res["cmd"] == "AT+MSGHEX\r\n" and res["sent"] is True
    if answered:  # GPS time from the network, 18 leap seconds taken off: UTC
        assert abs(res["after"] - res["now"]) <= 2
    else:
        assert res["after"] is None
    assert ns.posted == 0 and ns.uplinks == {}  # the empty uplink did not reach the application


LINK_TIME = """
import asyncio, time
from transport.lorawan import LorawanLink
cfg = {"lorawan": {"app_key": "00112233445566778899AABBCCDDEEFF", "airtime_ms_per_day": 30000}}
link = LorawanLink(cfg, "dev-lw", "air-outdoor-v1", "0.1.0")
res = {}
async def main():
    res["unjoined"] = await link.network_time()
    await link.connect()
    a0, d0 = link._air.spent, link._down.spent
    res["t"] = await link.network_time()
    res["air"], res["down"] = link._air.spent - a0, link._down.spent - d0
    res["again"] = await link.network_time()  # the modem's clock is set now: no second uplink
    res["down2"] = link._down.spent - d0
    res["now"] = time.real_time()
asyncio.run(main())
out(res)
"""


def test_lorawan_link_network_time(tmp_path):
    ns = network()
    try:
        res = run_fw(LINK_TIME, tmp_path, lora_hw(ns.port))
    finally:
        ns.stop()
    assert res["unjoined"] is None
    assert abs(res["t"] - res["now"]) <= 2 and abs(res["again"] - res["now"]) <= 2
    # the empty uplink's airtime is counted (13 bytes at SF7: 41 ms); its answer, like the Join Accept,
    # is not in the day's downlinks (once a boot), so the first confirmed uplink need not wait for it
    assert 40000 <= res["air"] <= 60000 and res["down"] == 0 and res["down2"] == 0
