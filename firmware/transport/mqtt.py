"""A small asyncio MQTT 3.1.1 client (OASIS MQTT 3.1.1, 2014) for MicroPython and CPython.

One connection per instance: connect() opens it and starts a reader task (dispatching PUBACK, SUBACK,
PINGRESP and incoming PUBLISH) and a keepalive task. Reconnecting is the caller's job (make a new
connect() after MQTTConnectionLost); see mqtt_link.backoff_ms(). Incoming QoS 2 is not supported: we
only ever subscribe with QoS <= 1, so a broker never sends it (spec 3.8.4: granted QoS <= requested).
"""
import asyncio
import gc
import time

try:
    from micropython import const
except ImportError:  # CPython fallback
    def const(x):
        return x

from unload import forget

# Packet types, spec 2.2.1 (fixed header byte, upper nibble); CONNECT and CONNACK in mqtt_session.py.
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_SUBSCRIBE = const(0x82)  # spec 3.8.1: flags must be 0b0010
_SUBACK = const(0x90)
_PINGREQ = const(0xC0)
_PINGRESP = const(0xD0)
_DISCONNECT = const(0xE0)
_MAX_INCOMING = const(8192)  # larger incoming payloads are read, discarded and acknowledged
# A payload given in pieces is drained every this many bytes: what the stream buffers stays small
# (the modem's stream sends in chunks of about this size).
_DRAIN_BYTES = const(1024)
# How often a request looks for its acknowledgement (_request): a few ms more per publish at most.
_ACK_POLL_MS = const(20)
_WRITE_WAIT_MS = const(5)  # how often a packet waiting for the stream looks again (_write)


if hasattr(time, "ticks_ms"):
    _ticks_ms = time.ticks_ms
    _ticks_diff = time.ticks_diff
else:
    def _ticks_ms():
        return int(time.monotonic() * 1000)

    def _ticks_diff(a, b):
        return a - b


if hasattr(asyncio, "sleep_ms"):
    _sleep_ms = asyncio.sleep_ms  # MicroPython: no function of our own in the heap
else:  # CPython fallback
    async def _sleep_ms(ms):
        await asyncio.sleep(ms / 1000)


class MQTTError(Exception):
    pass


class MQTTConnectError(MQTTError):
    """The broker refused the connection (CONNACK return code `code`), or it could not be reached."""

    def __init__(self, code, message):
        super().__init__("MQTT connect refused (%d): %s" % (code, message))
        self.code = code
        self.message = message


class MQTTConnectionLost(MQTTError):
    """The connection dropped (socket closed, protocol error, keepalive expired), or a request got no
    acknowledgement in time, after which the connection's state is unknown and it is closed. Connect
    again."""


def _header(first, n):
    # Fixed header, spec 2.2: the type byte, then the remaining length (2.2.3: 7 bits per byte,
    # least significant first, at most 4 bytes).
    out = bytearray((first,))
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return out


def _str(s):
    if isinstance(s, str):
        s = s.encode()
    return bytes((len(s) >> 8, len(s) & 0xFF)) + s


class MQTTClient:
    def __init__(self, client_id, host, port=1883, username=None, password=None, keepalive=60,
                 clean_session=True, will=None, on_message=None, timeout_ms=10000, ssl=None,
                 server_hostname=None, open_connection=None):
        """`will` = (topic, message bytes, qos, retain) or None. `ssl`: an SSLContext for TLS (its
        CA bundle checks the broker), `server_hostname` the name the certificate must carry (host).
        `open_connection(host, port)`: a coroutine giving (reader, writer) streams, for a connection
        through something other than the host's sockets (a modem's TCP socket); default asyncio's.

        `on_message(topic: str, payload: bytes, retained: bool)` is called in the reader task for each
        incoming PUBLISH: keep it short, or hand the work to another task.
        """
        # The CONNECT packet is the same at every connection: built once, the will and credentials
        # are not kept apart from it.
        from transport import mqtt_session

        self._connect_packet = mqtt_session.connect_packet(client_id, username, password, keepalive,
                                                           clean_session, will)
        forget("transport.mqtt_session")
        self.host = host
        self.port = port
        self.keepalive = keepalive
        self.on_message = on_message
        self.timeout_ms = timeout_ms
        self.ssl = ssl
        self.server_hostname = server_hostname
        self.open_connection = open_connection
        self._reader = None
        self._writer = None
        self._tasks = []
        self._pid = 0
        self._waiting = {}  # packet id -> None while it waits, then its result (or the exception)
        self._writing = False  # a packet is being written (_write): others wait their turn
        self._last_rx = 0
        self._last_tx = 0
        self._up = False
        self.lost = None  # the exception that ended the last connection, if any
        self._skipped = False

    @property
    def connected(self):
        return self._up

    # ---- connection -------------------------------------------------------------------------
    async def connect(self):
        """Open the TCP connection, send CONNECT, wait for CONNACK. MQTTConnectError if refused, or
        when no answer comes within timeout_ms. The code is transport/mqtt_session.py, loaded for
        each connect and forgotten after it: a connection is set up once in a long while."""
        if self._up:
            return
        from transport import mqtt_session

        try:
            await mqtt_session.open_session(self)
        finally:
            forget("transport.mqtt_session")
        # The session's tasks, made once its code has gone and been collected: they stay for the
        # whole connection, and take the lowest free blocks instead of standing among the freed
        # blocks of a module that served once.
        gc.collect()
        self._up = True
        self._last_rx = self._last_tx = _ticks_ms()
        self._tasks = [asyncio.create_task(self._read_loop())]
        if self.keepalive:
            self._tasks.append(asyncio.create_task(self._ping_loop()))

    async def disconnect(self):
        """Send DISCONNECT (so the broker discards the will) and close."""
        if self._up:
            try:
                await self._write(b"\xe0\x00")
            except (OSError, MQTTError):
                pass
        await self._shutdown(None)

    async def abort(self):
        """Drop the connection without DISCONNECT (the network went away): the broker publishes
        the will once it notices."""
        await self._shutdown(MQTTConnectionLost("network down"))

    async def _close_socket(self):
        w = self._writer
        self._writer = self._reader = None
        if w is not None:
            try:
                w.close()
                await w.wait_closed()
            except Exception:  # the socket is already gone; nothing left to release
                pass

    async def _shutdown(self, exc):
        if not self._up and self._writer is None:
            return
        self._up = False
        self.lost = exc
        me = asyncio.current_task()
        for t in self._tasks:
            if t is not me:
                t.cancel()
        self._tasks = []
        waiting = self._waiting
        for pid in waiting:
            if waiting[pid] is None:  # not answered yet: it never will be
                waiting[pid] = exc or MQTTConnectionLost("disconnected")
        await self._close_socket()

    # ---- low-level I/O ----------------------------------------------------------------------
    async def _write(self, head, body=()):
        """Write one packet: `head` (bytes), then each piece of `body` (an iterable of bytes, which
        may be produced as it is written: a payload need not exist in one piece)."""
        # One packet at a time: pieces of two packets must not interleave. Writers rarely meet (a
        # ping or a PUBACK while an uplink is written), so the one that finds the stream busy looks
        # again a little later: a flag where an asyncio.Lock cost 0.7 KB (its module and itself).
        while self._writing:
            await _sleep_ms(_WRITE_WAIT_MS)
        self._writing = True
        try:
            w = self._writer
            if w is None:
                raise MQTTConnectionLost("not connected")
            w.write(head)
            buffered = 0
            for piece in body:
                w.write(piece)
                buffered += len(piece)
                if buffered >= _DRAIN_BYTES:
                    await w.drain()
                    buffered = 0
            await w.drain()
            self._last_tx = _ticks_ms()
        finally:
            self._writing = False

    async def _read_packet(self):
        """(type byte, body bytes) of the next packet; raises EOFError/OSError when the socket closes."""
        r = self._reader
        first = (await r.readexactly(1))[0]
        n = 0
        shift = 0
        while True:
            b = (await r.readexactly(1))[0]
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
            if shift > 21:
                raise OSError("malformed remaining length")
        if (first & 0xF0) == _PUBLISH and n > _MAX_INCOMING + 200:
            return first, await self._read_oversized(first, n)
        body = await r.readexactly(n) if n else b""
        return first, body

    async def _read_oversized(self, first, n):
        # Keep topic and packet id, skip the payload in small reads so RAM is not spent on it.
        r = self._reader
        tl = await r.readexactly(2)
        tlen = tl[0] << 8 | tl[1]
        head = tl + await r.readexactly(tlen + (2 if first & 0x06 else 0))
        n -= len(head)
        while n:
            k = min(n, 256)
            await r.readexactly(k)
            n -= k
        self._skipped = True  # _on_publish acknowledges it without calling on_message
        return head

    async def _read_loop(self):
        exc = None
        try:
            while True:
                typ, body = await self._read_packet()
                self._last_rx = _ticks_ms()
                kind = typ & 0xF0
                if kind == _PUBLISH:
                    await self._on_publish(typ, body)
                elif kind == _PUBACK or kind == _SUBACK:
                    pid = body[0] << 8 | body[1]
                    if pid in self._waiting and self._waiting[pid] is None:  # _request waits for it
                        self._waiting[pid] = body[2:] if kind == _SUBACK else True
                elif kind == _PINGRESP:
                    pass
                else:
                    exc = MQTTConnectionLost("protocol error: unexpected packet 0x%02x" % typ)
                    break
        except (EOFError, OSError) as e:
            exc = MQTTConnectionLost("connection lost (%s)" % (e.__class__.__name__,))
        except asyncio.CancelledError:
            return
        await self._shutdown(exc)

    async def _on_publish(self, typ, body):
        qos = (typ >> 1) & 3
        tlen = body[0] << 8 | body[1]
        topic = body[2:2 + tlen].decode()
        i = 2 + tlen
        if qos:
            pid = body[i:i + 2]
            i += 2
        skipped = self._skipped
        self._skipped = False
        if skipped:
            print("mqtt: dropped an incoming message over", _MAX_INCOMING, "bytes on", topic)
        elif self.on_message is not None:
            try:
                self.on_message(topic, body[i:], bool(typ & 1))
            except Exception as e:  # a bad callback must not kill the connection
                print("mqtt: on_message failed:", repr(e))
        if qos == 1:
            await self._write(b"\x40\x02" + pid)

    async def _ping_loop(self):
        # Spec 3.1.2.10: send something at least every keepalive seconds; the broker drops us after
        # 1.5 x keepalive without traffic, and we give up on it after the same silence.
        ka = self.keepalive * 1000
        try:
            while self._up:
                await _sleep_ms(ka // 4 if ka >= 4000 else 1000)
                now = _ticks_ms()
                if _ticks_diff(now, self._last_rx) > ka + ka // 2:
                    await self._shutdown(MQTTConnectionLost("keepalive expired: broker silent"))
                    return
                if _ticks_diff(now, self._last_tx) >= ka // 2:
                    await self._write(b"\xc0\x00")
        except asyncio.CancelledError:
            return
        except (OSError, MQTTError) as e:
            await self._shutdown(MQTTConnectionLost("ping failed (%s)" % (e,)))

    # ---- requests ---------------------------------------------------------------------------
    def _next_pid(self):
        # Packet ids 1..65535, spec 2.3.1; skip ids still awaiting an answer.
        while True:
            self._pid = self._pid % 65535 + 1
            if self._pid not in self._waiting:
                return self._pid

    async def _request(self, pid, head, body=()):
        """Send a packet the broker acknowledges (PUBLISH QoS 1, SUBSCRIBE); return the answer.

        The reader task files the acknowledgement in _waiting[pid], where this looks for it every
        _ACK_POLL_MS: an Event awaited under wait_for cost an Event, a task and a closure per request
        (about 1 KB, at the peak of a send)."""
        waiting = self._waiting
        waiting[pid] = None
        try:
            await self._write(head, body)
            t0 = _ticks_ms()
            while waiting[pid] is None:
                if _ticks_diff(_ticks_ms(), t0) >= self.timeout_ms:
                    exc = MQTTConnectionLost("no acknowledgement for packet %d in %d ms" % (pid, self.timeout_ms))
                    await self._shutdown(exc)
                    raise exc
                await _sleep_ms(_ACK_POLL_MS)
            res = waiting[pid]
        except (OSError, EOFError) as e:
            exc = MQTTConnectionLost("connection lost (%s)" % (e,))
            await self._shutdown(exc)
            raise exc
        finally:
            waiting.pop(pid, None)
        if isinstance(res, Exception):
            raise res
        return res

    async def publish(self, topic, payload, qos=0, retain=False, size=None):
        """Publish; with qos=1 return only after PUBACK (MQTTConnectionLost otherwise,
        also when no PUBACK came within timeout_ms).

        `payload`: bytes (or str); or, with `size`, an iterable of bytes pieces, `size` bytes in all,
        written as they come (MQTT needs the length first: wire.batch_pieces says how it is known)."""
        if not self._up:
            raise MQTTConnectionLost("not connected")
        if qos not in (0, 1):
            raise ValueError("qos must be 0 or 1")
        if size is None:
            if isinstance(payload, str):
                payload = payload.encode()
            size = len(payload)
            payload = (payload,)
        t = _str(topic)
        head = _header(_PUBLISH | (qos << 1) | (1 if retain else 0), len(t) + size + (2 if qos else 0)) + t
        if not qos:
            await self._write(head, payload)
            return
        pid = self._next_pid()
        head.append(pid >> 8)
        head.append(pid & 0xFF)
        await self._request(pid, head, payload)

    async def subscribe(self, topic, qos=1):
        """Subscribe; returns the granted QoS; MQTTError if the broker refuses (0x80)."""
        if not self._up:
            raise MQTTConnectionLost("not connected")
        pid = self._next_pid()
        t = _str(topic)
        body = bytes((pid >> 8, pid & 0xFF)) + t + bytes((qos,))
        granted = await self._request(pid, _header(_SUBSCRIBE, len(body)) + body)
        if not granted or granted[0] == 0x80:
            raise MQTTError("subscription to %s refused" % topic)
        return granted[0]
