"""The firmware as a ROMFS image: bytecode that runs from flash instead of being copied into the heap.

MicroPython (1.25 and later, built with MICROPY_VFS_ROM) mounts a ROM partition of the flash at /rom
and puts /rom and /rom/lib first on sys.path. A .mpy imported from there is executed in place: its
bytecode, and the strings and bytes constants it holds, stay in the memory-mapped flash. Imported from
the LittleFS filesystem, the same .mpy is read into the heap whole. For the exhibition kit that is
about 31 KB of a 110 KB heap (measured by tests/firmware/test_cycle_heap.py). What stays in the heap
either way is what running a module builds: its function, class and dict objects, the raw-code records
that point into the bytecode, and an entry in the qstr pool for each new name.

The image is the firmware compiled with mpy-cross for the board (`-march=xtensawin` for the ESP32, as
the flash station compiles it) and packed in the VfsRom format that `mpremote romfs build` writes;
`mpremote romfs deploy <image>` writes it to the board's ROM partition. main.py and boot.py stay on
the filesystem: MicroPython looks for its boot scripts there, not in /rom. See docs/flashing.md.
"""
from __future__ import annotations

from pathlib import Path

# Files that must stay on the board's filesystem: MicroPython runs boot.py and main.py from there.
BOOT_SCRIPTS = ("boot.mpy", "main.mpy", "boot.py", "main.py")


def build_image(tree: Path) -> bytes:
    """The VfsRom image of the compiled tree `tree` (every .mpy under it, in directories as there)."""
    from mpremote.romfs import VfsRomWriter

    writer = VfsRomWriter()

    def add(folder: Path) -> None:
        for p in sorted(folder.iterdir()):
            if p.is_dir():
                writer.opendir(p.name)
                add(p)
                writer.closedir()
            elif p.suffix == ".mpy" and not (folder == tree and p.name in BOOT_SCRIPTS):
                writer.mkfile(p.name, p.read_bytes())

    add(tree)
    return writer.finalise()
