"""InvenSense (TDK) INMP441 I2S MEMS microphone.

Datasheet DS-INMP441-00 rev 1.1: 24-bit two's-complement data, MSB first, one bit clock after the WS
edge (standard I2S), output tri-stated after the LSB of its 32-bit slot; L/R pin low = left channel;
sensitivity -26 dBFS at 94 dB SPL, 1 kHz; SNR 61 dB(A) (noise floor 33 dB(A)); acoustic overload
point 120 dB SPL. See i2s_mic.py for the read and convert calls.
"""
from drivers.i2s_mic import I2SMic


class INMP441(I2SMic):
    NAME = "inmp441"
    BITS = 24
    NOISE_FLOOR_DB = 33  # dB(A): 94 dB SPL - SNR 61 dB(A)
