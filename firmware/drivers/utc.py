"""The clock of the radio links: calendar date and time (UTC) to Unix seconds, for the modems' clocks
(drivers/at_modem.py AT+CCLK?, drivers/lora_e5.py AT+RTC), and the ESP32's RTC set from the link's time
(app.py). Not time.mktime: on the ESP32 it counts from 2000 and on the unix port it takes local time;
unix() is the proleptic Gregorian count from 1970-01-01, whatever the port."""
import time


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
