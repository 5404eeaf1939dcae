"""TDK InvenSense ICS-43434 I2S MEMS microphone.

Datasheet DS-000069 rev 1.2: 24-bit two's-complement data in a 32-bit slot, MSB first, standard
I2S timing, sensitivity -26 dBFS at 94 dB SPL, SNR 65 dB(A) (noise floor 29 dB(A)), acoustic
overload point 120 dB SPL. See i2s_mic.py for the read and convert calls.
"""
from drivers.i2s_mic import I2SMic


class ICS43434(I2SMic):
    NAME = "ics43434"
    BITS = 24
    NOISE_FLOOR_DB = 29  # dB(A): 94 dB SPL - SNR 65 dB(A)
