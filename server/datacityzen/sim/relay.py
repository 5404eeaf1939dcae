"""A TCP relay between one simulated device and its broker, for network faults the firmware must ride out.

The device's device.json points at the relay; the relay forwards bytes both ways, unchanged, and reads
the device-to-broker stream as MQTT packets (fixed header and remaining length, OASIS MQTT 3.1.1
section 2.2) only to count uplinks. Faults:
- an outage window: from `after_s` to `after_s + for_s` (seconds from `start()`), every open connection
  is cut and new ones are closed at once, as when the Wi-Fi or the broker's network goes away;
- `on_uplink(n, before)`: called with the device's uplink count n (1, 2, ...) for each PUBLISH on
  `dcz/v1/<device>/up`, before it is forwarded. If it returns True, the broker's answers on that
  connection are withheld from then on (the PUBACK never reaches the device), and it is called again
  with before=False once the broker has the uplink: the runner then powers the device off, after the
  broker has the uplink and before the device knows it, so the readings are delivered again after
  the reboot (the server must store them once).
"""
from __future__ import annotations

import socket
import threading
import time


def _packets(buf: bytearray):
    """Yield (first byte, whole packet bytes) for each complete MQTT packet at the start of `buf`,
    removing them from it."""
    while len(buf) >= 2:
        n = 0
        shift = 0
        i = 1
        while True:
            if i >= len(buf):
                return
            b = buf[i]
            n |= (b & 0x7F) << shift
            i += 1
            if not b & 0x80:
                break
            shift += 7
            if shift > 21:
                raise ValueError("malformed remaining length")
        if len(buf) < i + n:
            return
        pkt = bytes(buf[:i + n])
        del buf[:i + n]
        yield pkt[0], pkt, i


class _Conn:
    def __init__(self, down: socket.socket, up: socket.socket):
        self.down, self.up = down, up
        self.withhold = False
        self.closed = False

    def close(self):
        if self.closed:
            return
        self.closed = True
        for s in (self.down, self.up):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


class Relay:
    def __init__(self, upstream: tuple[str, int], device: str, on_uplink=None):
        self.upstream = upstream
        self.topic_up = f"dcz/v1/{device}/up".encode()
        self.on_uplink = on_uplink
        self.uplinks = 0
        self.cuts = 0
        self._outage: tuple[float, float] | None = None
        self._conns: list[_Conn] = []
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.port = self._listener.getsockname()[1]
        self._stopped = threading.Event()

    def set_outage(self, after_s: float, for_s: float) -> None:
        """Cut the network from `after_s` seconds from now, for `for_s` seconds."""
        now = time.monotonic()
        self._outage = (now + after_s, now + after_s + for_s)

    def in_outage(self) -> bool:
        o = self._outage
        return o is not None and o[0] <= time.monotonic() < o[1]

    def start(self) -> "Relay":
        threading.Thread(target=self._accept_loop, daemon=True, name=f"relay-{self.port}").start()
        threading.Thread(target=self._outage_loop, daemon=True, name=f"relay-cut-{self.port}").start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        self.cut()

    def cut(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            c.close()
        if conns:
            self.cuts += 1

    def _outage_loop(self):
        while not self._stopped.wait(0.1):
            if self.in_outage():
                self.cut()

    def _accept_loop(self):
        while not self._stopped.is_set():
            try:
                down, _ = self._listener.accept()
            except OSError:
                return
            if self.in_outage():
                down.close()
                continue
            try:
                up = socket.create_connection(self.upstream, timeout=5)
                up.settimeout(None)
            except OSError:
                down.close()  # the broker is down: so is the device's connection
                continue
            conn = _Conn(down, up)
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._device_to_broker, args=(conn,), daemon=True).start()
            threading.Thread(target=self._broker_to_device, args=(conn,), daemon=True).start()

    def _device_to_broker(self, conn: _Conn):
        buf = bytearray()
        try:
            while True:
                data = conn.down.recv(4096)
                if not data:
                    break
                buf.extend(data)
                for first, pkt, hdr_len in _packets(buf):
                    uplink = False
                    if first & 0xF0 == 0x30:  # PUBLISH
                        tlen = pkt[hdr_len] << 8 | pkt[hdr_len + 1]
                        uplink = pkt[hdr_len + 2:hdr_len + 2 + tlen] == self.topic_up
                    if uplink:
                        self.uplinks += 1
                        if self.on_uplink is not None and self.on_uplink(self.uplinks, before=True):
                            conn.withhold = True  # before forwarding: the PUBACK must not slip through
                    conn.up.sendall(pkt)
                    if uplink and conn.withhold and self.on_uplink is not None:
                        self.on_uplink(self.uplinks, before=False)
        except (OSError, ValueError):
            pass
        conn.close()

    def _broker_to_device(self, conn: _Conn):
        try:
            while True:
                data = conn.up.recv(4096)
                if not data:
                    break
                if not conn.withhold:
                    conn.down.sendall(data)
        except OSError:
            pass
        conn.close()
