# The interpreter behind a fake board (see fakeboard.py). Runs under the MicroPython unix port:
#     micropython board_agent.py FLASH_DIR MACHINE_NAME UNIQUE_ID_HEX
# FLASH_DIR becomes the filesystem root ("/"), as a board's flash is. os.uname() and machine answer
# like an ESP32 running MicroPython. Code blocks arrive on stdin as a 4-byte little-endian length then
# the source; each runs in one persistent namespace (mpremote relies on state kept between blocks).
# After a block: its output, 0x04, the exception text if any, 0x04 - the raw REPL's framing.
import sys
import os
import vfs

_root = sys.argv[1]
_machine_name = sys.argv[2]
_uid = bytes.fromhex(sys.argv[3])
_out = sys.stdout


class _Machine:
    """The few `machine` functions a flash tool and mpremote use."""

    def reset(self):
        raise SystemExit(3)  # the fake board restarts the interpreter, as a hard reset would

    soft_reset = reset

    def unique_id(self):
        return _uid

    def freq(self):
        return 160000000


_real_os = os


class _Os:
    """os with the board's uname; everything else is the real module."""

    def __getattr__(self, name):
        return getattr(_real_os, name)

    def uname(self):
        return ("esp32", "esp32", "1.29.0", "v1.29.0 on 2026-10-01", _machine_name)


sys.modules["machine"] = _Machine()
sys.modules["os"] = _Os()
vfs.umount("/")
vfs.mount(vfs.VfsPosix(_root), "/")
_real_os.chdir("/")
_stdin = sys.stdin.buffer
_ns = {"__name__": "__main__"}


def _read_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = _stdin.read(n - len(buf))
        if not chunk:
            raise SystemExit(0)
        buf += chunk
    return buf


while True:
    size = int.from_bytes(_read_exact(4), "little")
    code = _read_exact(size)
    err = None
    status = 0
    try:
        exec(code, _ns)
    except SystemExit as e:
        status = e.args[0] if e.args else 0
    except BaseException as e:  # noqa: B902 - report like the REPL does, then carry on
        err = e
    _out.write("\x04")
    if err is not None:
        sys.print_exception(err, _out)
    _out.write("\x04")
    if status:
        raise SystemExit(status)
