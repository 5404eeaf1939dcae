"""A TCP connection (TLS if asked) as the stream the MQTT client reads and writes, on MicroPython.

asyncio's own streams (asyncio/stream.py) take 1.7 KB of heap once imported, for a server, readline,
read, legacy aliases that the client never calls; this is what it calls: open_connection(),
readexactly(), write(), drain(), close(), wait_closed(), at about half that. A socket is waited on as
asyncio's streams do, through the scheduler's I/O queue (asyncio.core._io_queue: not a public name,
so tests/firmware/test_mqtt_client.py and test_wifi_link.py run this under the MicroPython the
firmware ships with, TLS included). CPython keeps asyncio.open_connection (mqtt.py).

The generator functions here are coroutines to MicroPython's asyncio, as in asyncio/stream.py: each
`yield` hands the socket to the scheduler until it can be read or written.
"""
import socket
from asyncio import core
from errno import EINPROGRESS


def open_connection(host, port, ssl=None, server_hostname=None):
    """(reader, writer) for host:port, one TcpStream for both; `ssl` an SSLContext for TLS, whose
    handshake then happens on the first write (an OSError there is the TLS failure)."""
    addr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    s = socket.socket(addr[0], addr[1], addr[2])
    s.setblocking(False)
    try:
        s.connect(addr[-1])
    except OSError as e:
        if e.errno != EINPROGRESS:
            raise
    if ssl is not None:
        s = ssl.wrap_socket(s, server_hostname=server_hostname or host, do_handshake_on_connect=False)
        s.setblocking(False)
    stream = TcpStream(s)
    yield core._io_queue.queue_write(s)  # connected, or refused: the first read or write says which
    return stream, stream


class TcpStream:
    def __init__(self, sock):
        self._sock = sock
        self._unsent = b""  # what the socket did not take yet (drain sends it)

    def readexactly(self, n):
        got = b""
        while n:
            yield core._io_queue.queue_read(self._sock)
            more = self._sock.read(n)
            if more is not None:  # None: nothing after all (TLS records, say)
                if not more:
                    raise EOFError
                got += more
                n -= len(more)
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
            yield core._io_queue.queue_write(self._sock)
            n = self._sock.write(self._unsent)
            if n:
                self._unsent = self._unsent[n:]

    def close(self):
        self._sock.close()

    async def wait_closed(self):
        pass  # close() already let the socket go
