"""A TCP connection (TLS if asked) as the stream the MQTT client reads and writes, on MicroPython.

asyncio's own streams (asyncio/stream.py) take 1.7 KB of heap once imported, for a server, readline,
read, legacy aliases that the client never calls; this is what it calls: open_connection(),
readexactly(), write(), drain(), close(), wait_closed(), at about half that. A socket is waited on as
asyncio's streams do, through the scheduler's I/O queue (asyncio.core._io_queue: not a public name,
so tests/firmware/test_mqtt_client.py and test_wifi_link.py run this under the MicroPython the
firmware ships with, TLS included). CPython keeps asyncio.open_connection (mqtt.py).

The generator functions here are coroutines to MicroPython's asyncio, as in asyncio/stream.py: each
`yield` hands the socket to the scheduler until it can be read or written.

While a connection is being set up, `deadline` (a time.ticks_ms() value) bounds every wait: the stream
then looks at its socket every _SETUP_POLL_MS instead of queueing it, and raises asyncio's TimeoutError
once the deadline has passed. The MQTT client sets it for the TCP and TLS handshakes and the CONNACK,
and clears it once connected: a timeout that way costs no task and no asyncio.wait_for (whose module,
asyncio/funcs.py, would stay in the heap for good, 0.7 KB, and each call a task and its closure).
"""
import select
import socket
import time
from asyncio import core
from errno import EINPROGRESS

from micropython import const

_SETUP_POLL_MS = const(20)


def open_connection(host, port, ssl=None, server_hostname=None, timeout_ms=None):
    """(reader, writer) for host:port, one TcpStream for both; `ssl` an SSLContext for TLS, whose
    handshake then happens on the first write (an OSError there is the TLS failure). With
    `timeout_ms`, the stream's deadline is set that far ahead (the caller clears it, see above)."""
    addr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    s = socket.socket(addr[0], addr[1], addr[2])
    s.setblocking(False)
    try:
        s.connect(addr[-1])
    except OSError as e:
        if e.errno != EINPROGRESS:
            raise
    stream = TcpStream(s)
    if timeout_ms is None:
        yield core._io_queue.queue_write(s)  # connected, or refused: the first read or write says which
    else:
        stream.deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
        poller = select.poll()
        poller.register(s, select.POLLOUT)
        while not poller.poll(0):  # connected, or refused: the first read or write says which
            yield from stream._setup_wait()
    if ssl is not None:
        stream._sock = ssl.wrap_socket(s, server_hostname=server_hostname or host, do_handshake_on_connect=False)
        stream._sock.setblocking(False)
    return stream, stream


class TcpStream:
    def __init__(self, sock):
        self._sock = sock
        self._unsent = b""  # what the socket did not take yet (drain sends it)
        self.deadline = None

    def _setup_wait(self):
        # A wait under the deadline (see the module docstring): the scheduler wakes the task again
        # in _SETUP_POLL_MS (asyncio's sleep_ms is a singleton: nothing is allocated per wait).
        if time.ticks_diff(time.ticks_ms(), self.deadline) >= 0:
            raise core.TimeoutError
        return core.sleep_ms(_SETUP_POLL_MS)

    def readexactly(self, n):
        got = b""
        while n:
            if self.deadline is None:
                yield core._io_queue.queue_read(self._sock)
            more = self._sock.read(n)
            if more is not None:  # None: nothing after all (TLS records, say)
                if not more:
                    raise EOFError
                got += more
                n -= len(more)
            elif self.deadline is not None:
                yield from self._setup_wait()
        return got

    def write(self, data):
        if not self._unsent:  # the socket takes what it can at once
            n = self._sock.write(data)
            if n == len(data):
                return
            if n:
                data = data[n:]
        self._unsent += data

    def drain(self):
        while self._unsent:
            if self.deadline is None:
                yield core._io_queue.queue_write(self._sock)
            n = self._sock.write(self._unsent)
            if n:
                self._unsent = self._unsent[n:]
            elif self.deadline is not None:
                yield from self._setup_wait()

    def close(self):
        self._sock.close()

    async def wait_closed(self):
        pass  # close() already let the socket go
