"""A data directory whose disk can be filled and freed while the server runs.

Preferred: a small tmpfs mounted for the test (root with CAP_SYS_ADMIN), filled with a filler file
until ENOSPC, which is exactly what a full SD card or disk does. Where mounting is not allowed, the
server process gets a file-size limit instead (RLIMIT_FSIZE lowered with prlimit to the size its
files have, SIGXFSZ ignored so writes fail with EFBIG): every write that would grow a file fails,
as on a full disk, and raising the limit again frees it.
"""
from __future__ import annotations

import errno
import resource
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path


def _ignore_sigxfsz():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


class FullableDisk:
    def __init__(self, size_mb: int = 64):
        self.root = Path(tempfile.mkdtemp(prefix="dcz-disk-"))
        self.mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(self.root)],
            capture_output=True).returncode == 0
        self.kind = "tmpfs (ENOSPC)" if self.mounted else "RLIMIT_FSIZE (EFBIG)"
        self.data_dir = self.root / "data"
        self.data_dir.mkdir()
        self.filler = self.root / "filler"
        self.pid: int | None = None

    # the server process must start with this (only used by the RLIMIT variant)
    preexec_fn = staticmethod(_ignore_sigxfsz)

    def attach(self, pid: int) -> None:
        self.pid = pid

    def fill(self) -> None:
        if self.mounted:
            chunk = b"\0" * (1 << 20)
            with open(self.filler, "wb", buffering=0) as f:
                while True:
                    try:
                        f.write(chunk)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        if len(chunk) == 1:
                            break
                        chunk = chunk[: len(chunk) // 2]
        else:
            biggest = max((p.stat().st_size for p in self.data_dir.rglob("*") if p.is_file()), default=0)
            _, hard = resource.prlimit(self.pid, resource.RLIMIT_FSIZE)
            resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (biggest, hard))

    def free(self) -> None:
        if self.mounted:
            self.filler.unlink(missing_ok=True)
        else:
            _, hard = resource.prlimit(self.pid, resource.RLIMIT_FSIZE)
            resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (hard, hard))

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free

    def remove(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.root)], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
