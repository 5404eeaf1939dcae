"""The clock of the radio links, loaded only when a link asks the network for the time: the modems'
clock answers (AT+CCLK? of drivers/at_modem.py, AT+RTC of drivers/lora_e5.py; formats there) to Unix
seconds, and the ESP32's RTC set from the link's time (app.py). Not time.mktime: on the ESP32 it counts from 2000 and on the unix port it takes local time;
unix() is the proleptic Gregorian count from 1970-01-01, whatever the port."""
import time

from micropython import const

# A modem clock before 2024-01-01 (Unix) was never set by the network: its power-up default.
_CLOCK_VALID_AFTER = const(1704067200)


def unix(y, mo, d, h=0, mi=0, s=0):
    if mo <= 2:  # count the year from March: the leap day falls at its end
        y -= 1
        mo += 12
    days = 365 * y + y // 4 - y // 100 + y // 400 + (153 * (mo - 3) + 2) // 5 + d - 719469
    return days * 86400 + h * 3600 + mi * 60 + s


def set_rtc(unix_s):
    """Set the ESP32's RTC to `unix_s` (seconds UTC). machine.RTC().datetime takes (year, month, day,
    weekday, hours, minutes, seconds, subseconds); time.gmtime counts from 2000 on the ESP32."""
    import machine

    tm = time.gmtime(unix_s - (946684800 if time.gmtime(0)[0] == 2000 else 0))
    machine.RTC().datetime((tm[0], tm[1], tm[2], tm[6], tm[3], tm[4], tm[5], 0))


def cclk_unix(line):
    """`+CCLK: "yy/MM/dd,hh:mm:ss+zz"` (bytes; 3GPP TS 27.007 8.15, the +zz optional) to Unix seconds UTC;
    None for a clock still at its power-up default (before 2024) or a line not of that form."""
    i = line.find(b'"')
    j = line.find(b'"', i + 1)
    t = line[i + 1:j]
    if i < 0 or j < 0 or len(t) < 17 or t[2:3] != b"/" or t[5:6] != b"/" or t[8:9] != b"," \
            or t[11:12] != b":" or t[14:15] != b":":
        return None
    try:
        yy, mo, d = int(t[0:2]), int(t[3:5]), int(t[6:8])
        h, mi, s = int(t[9:11]), int(t[12:14]), int(t[15:17])
        z = int(t[17:]) if len(t) > 17 else 0  # "+08", "-20"; absent: the modem keeps no zone (UTC)
    except ValueError:
        return None
    if len(t) > 17 and t[17:18] != b"+" and t[17:18] != b"-":
        return None
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 60 and -96 <= z <= 96):
        return None
    # two-digit years: 70..99 are 1970..1999 (SIM7080G's default "80/01/06"), the rest 2000..2069
    u = unix(yy + (1900 if yy >= 70 else 2000), mo, d, h, mi, s) - z * 900  # local time - offset = UTC
    return u if u > _CLOCK_VALID_AFTER else None


def rtc_unix(ans):
    """The AT+RTC answer "YYYY-MM-DD hh:mm:ss[.mmm]" (UTC) to Unix seconds; None for a clock never set
    (before 2024) or an answer not of that form."""
    if len(ans) < 19 or ans[4] != "-" or ans[7] != "-" or ans[10] != " " or ans[13] != ":" or ans[16] != ":":
        return None
    try:
        y, mo, d = int(ans[0:4]), int(ans[5:7]), int(ans[8:10])
        h, mi, s = int(ans[11:13]), int(ans[14:16]), int(ans[17:19])
    except ValueError:
        return None
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 60):
        return None
    u = unix(y, mo, d, h, mi, s)
    return u if u > _CLOCK_VALID_AFTER else None
