"""CRC-8 of Sensirion's I2C sensors (SHT3x, SHT4x, SPS30, SCD30...): one CRC byte after each 16-bit word.

Polynomial 0x31 (x^8 + x^5 + x^4 + 1), initialisation 0xFF, no reflection, final XOR 0x00; check value
CRC(0xBEEF) = 0x92 (SHT3x-DIS datasheet v5, section 4.12, table 20; SHT4x datasheet v3, section 4.4).
"""


def crc8(buf, start=0, end=2):
    """CRC of buf[start:end] (no slice allocated)."""
    crc = 0xFF
    for i in range(start, end):
        crc ^= buf[i]
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def word_ok(buf, at):
    """True when buf[at], buf[at+1] are followed by their CRC at buf[at+2]."""
    return crc8(buf, at, at + 2) == buf[at + 2]
