"""Sound levels from a stream of samples: A-weighting, Fast time weighting, LAeq, LAmin, LAmax.

    from noise.meter import NoiseMeter
    m = NoiseMeter(48000, calibration_db=0.0)
    m.process(samples, n)      # array('i') of int32 words, full scale +-2**31 (an I2S word)
    laeq, lamin, lamax = m.take()

Modules: `aweighting` (filter coefficients per sample rate, IEC 61672-1 Annex E), `kernel` (the
per-sample fixed-point arithmetic in plain Python) and `kernel_viper` (the same arithmetic as
@micropython.viper machine code), `meter` (levels in dB), `wavfile` (recordings, for the CLI).
The same modules run on the ESP32, under the MicroPython unix port and under CPython.
"""
