"""Calendar date and time (UTC) to Unix seconds, for the modems' clocks (drivers/at_modem.py AT+CCLK?,
drivers/lora_e5.py AT+RTC). Not time.mktime: on the ESP32 it counts from 2000 and on the unix port it
takes local time; this is the proleptic Gregorian count from 1970-01-01, whatever the port."""


def unix(y, mo, d, h=0, mi=0, s=0):
    if mo <= 2:  # count the year from March: the leap day falls at its end
        y -= 1
        mo += 12
    days = 365 * y + y // 4 - y // 100 + y // 400 + (153 * (mo - 3) + 2) // 5 + d - 719469
    return days * 86400 + h * 3600 + mi * 60 + s
