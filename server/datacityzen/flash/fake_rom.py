"""An ESP32 ROM bootloader emulated at esptool's command level, for tests and rehearsals.

esptool's real code (flash parameters, compression, MD5 verification) runs unchanged: only
`ESPLoader.command()` is replaced, answering each serial-protocol command the way the ESP32 ROM
does (Espressif, "Serial Protocol" in the esptool documentation: command opcodes, status bytes and
error codes). The flash is a bytearray initialised to 0xFF, as erased NOR flash reads.

Failure modes a workshop meets, selectable: `fail_after_blocks` (a cable pulled mid-write: the
device stops answering), `chip_magic` (another chip family answers).
"""
from __future__ import annotations

import hashlib
import struct
import zlib

import serial
from esptool.targets.esp32 import ESP32ROM
from esptool.util import FatalError

FLASH_SIZE = 4 * 1024 * 1024
# ROM status: two bytes (status, error). Error 0x05 = "received message is invalid" (serial protocol doc).
_OK = b"\x00\x00"
_INVALID = b"\x01\x05"


class DeviceGone(FatalError):
    pass


class FakeESP32ROM(ESP32ROM):
    """ESP32ROM whose serial commands are answered in-process by an emulated ROM and SPI flash."""

    def __init__(self, flash: bytearray | None = None, *, fail_after_blocks: int | None = None,
                 chip_magic: int | None = None):
        super().__init__(serial.serial_for_url("loop://", timeout=0.1), trace_enabled=False)
        self.flash = flash if flash is not None else bytearray(b"\xff" * FLASH_SIZE)
        self.fail_after_blocks = fail_after_blocks
        self.chip_magic = chip_magic
        self.blocks_written = 0
        self.registers: dict[int, int] = {}
        self._region = None  # (offset, size, compressed, decompressor, position)
        self.commands: list[str] = []

    # esptool's connect() syncs and reads a magic register; we are already "in download mode".
    def connect(self, *args, **kwargs):  # noqa: D401
        return None

    def flush_input(self):
        pass

    def read_reg(self, addr, timeout=None):
        if addr == self.CHIP_DETECT_MAGIC_REG_ADDR and self.chip_magic is not None:
            return self.chip_magic
        # EFUSE words of a plain ESP32-D0WD v3 with a made-up MAC; unknown registers read 0.
        return self.registers.get(addr, 0)

    def write_reg(self, addr, value, mask=0xFFFFFFFF, delay_us=0, delay_after_us=0):
        self.registers[addr] = value

    def flash_id(self, cache=True):
        return 0x164020  # manufacturer 0x20, 4 MB (0x16): a common ESP32-WROOM flash

    def get_security_info(self):
        raise FatalError("GET_SECURITY_INFO is not supported by the ESP32 ROM")

    def command(self, op=None, data=b"", chk=0, wait_response=True, timeout=3):
        name = next((k for k, v in self.ESP_CMDS.items() if v == op), hex(op or 0))
        self.commands.append(name)
        handler = getattr(self, "_cmd_" + name.lower(), None)
        if handler is None:
            return 0, _INVALID
        return handler(data, chk)

    # -- commands --------------------------------------------------------------------------------
    def _cmd_sync(self, data, chk):
        return 0, _OK

    def _cmd_spi_attach(self, data, chk):
        return 0, _OK

    def _cmd_spi_set_params(self, data, chk):
        return 0, _OK

    def _cmd_change_baudrate(self, data, chk):
        return 0, _OK

    def _begin(self, data, compressed):
        size, _blocks, _block_size, offset = struct.unpack("<IIII", data[:16])
        if offset + size > len(self.flash):
            return 0, b"\x01\x06"
        self._region = [offset, size, compressed, zlib.decompressobj() if compressed else None, offset]
        return 0, _OK

    def _cmd_flash_begin(self, data, chk):
        return self._begin(data, False)

    def _cmd_flash_defl_begin(self, data, chk):
        return self._begin(data, True)

    def _data(self, data, chk):
        if self.fail_after_blocks is not None and self.blocks_written >= self.fail_after_blocks:
            raise DeviceGone("Timed out waiting for packet header (the board stopped answering)")
        length, seq, _, _ = struct.unpack("<IIII", data[:16])
        payload = data[16:16 + length]
        if self.checksum(payload) != chk:
            return 0, b"\x01\x07"  # checksum error
        offset, size, compressed, dec, pos = self._region
        chunk = dec.decompress(payload) if compressed else payload
        end = min(pos + len(chunk), offset + size)
        self.flash[pos:end] = chunk[: end - pos]
        self._region[4] = end
        self.blocks_written += 1
        return 0, _OK

    def _cmd_flash_data(self, data, chk):
        return self._data(data, chk)

    def _cmd_flash_defl_data(self, data, chk):
        return self._data(data, chk)

    def _cmd_flash_end(self, data, chk):
        return 0, _OK

    def _cmd_flash_defl_end(self, data, chk):
        return 0, _OK

    def _cmd_spi_flash_md5(self, data, chk):
        addr, size = struct.unpack("<II", data[:8])
        digest = hashlib.md5(bytes(self.flash[addr:addr + size])).hexdigest().encode()
        return 0, digest + _OK  # the ROM answers the MD5 as 32 hex characters

    def _cmd_read_reg(self, data, chk):
        (addr,) = struct.unpack("<I", data[:4])
        return self.read_reg(addr), _OK

    def _cmd_write_reg(self, data, chk):
        addr, value = struct.unpack("<II", data[:8])
        self.registers[addr] = value
        return 0, _OK

    def hard_reset(self, *args, **kwargs):
        self.commands.append("HARD_RESET")

    def soft_reset(self, *args, **kwargs):
        self.commands.append("SOFT_RESET")
