"""Knowles SPH0645LM4H I2S MEMS microphone, and its timing quirk on the ESP32.

Datasheet SPH0645LM4H-B rev C: 24-bit two's-complement words, MSB first, of which 18 bits are data
(the rest zero); sensitivity -26 dBFS at 94 dB SPL, SNR 65 dB(A); the data line changes on the rising
edge of the bit clock.

The quirk: the ESP32's I2S receiver samples the data line on that same rising edge, so it reads each
bit one clock late: every 18-bit sample arrives shifted left by one, its MSB lost and a 0 after its
LSB (analysed with a logic analyser by M. Teachman, "Street Sense" project log, 2019). The register
fix used from C (delay the receiver's sampling to the falling edge) is not reachable from
MicroPython's machine.I2S, so the driver undoes the shift: an arithmetic shift right by one takes
bit 30 as the sign. That is exact while |sample| < half of full scale, i.e. below about 114 dB SPL
peak (full scale is 120 dB SPL for a sine); louder peaks wrap and cannot be detected. `quirk=False`
is for a host whose receiver samples on the falling edge.
"""
from drivers.i2s_mic import I2SMic


class SPH0645(I2SMic):
    NAME = "sph0645"
    BITS = 18
    QUIRK = True
    NOISE_FLOOR_DB = 29  # dB(A): 94 dB SPL - SNR 65 dB(A)
