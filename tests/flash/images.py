"""Real ESP32 application images for tests, built with esptool's own image writer."""
import hashlib
from pathlib import Path

from esptool.bin_image import ESP32FirmwareImage, ELFSection


def make_image(path: Path, size: int = 40_000, chip_id: int = 0, seed: int = 1) -> str:
    """Write a valid ESP32 app image (header, segments, checksum, SHA-256 digest); return its SHA-256."""
    img = ESP32FirmwareImage()
    img.chip_id = chip_id
    img.entrypoint = 0x40080000
    body = hashlib.shake_256(str(seed).encode()).digest(size)  # incompressible, like real code
    img.segments = [ELFSection(b".dram0.data", 0x3FFB0000, body[: size // 4], 0),
                    ELFSection(b".iram0.text", 0x40080000, body[size // 4:], 0)]
    img.save(str(path))
    if chip_id:
        # esptool's writer always stamps the class's own chip id; set the extended header's chip id
        # (bytes 12-13, little-endian) as another chip's build would have it.
        data = bytearray(path.read_bytes())
        data[12:14] = chip_id.to_bytes(2, "little")
        path.write_bytes(data)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest
