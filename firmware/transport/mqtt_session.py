"""Opening an MQTT 3.1.1 session for MQTTClient (transport/mqtt.py): the CONNECT packet, the TCP (or
TLS) connection, CONNECT and CONNACK (OASIS MQTT 3.1.1, sections 3.1 and 3.2).

The client loads this module for each connect() (and once to build its CONNECT packet) and forgets it
afterwards: a connection is set up once in a long while, and its code, messages and CONNACK reasons
would otherwise stay in the device's heap through every measure-and-publish cycle.
"""
import asyncio
import sys

from transport import mqtt


def _raise_tls(e):
    # loaded only on a TLS link's failure: kits without TLS do not pay its RAM
    from transport import tls

    tls.raise_if_tls(e)


def connect_packet(client_id, username, password, keepalive, clean_session, will):
    # Variable header, spec 3.1.2: protocol name, level 4, connect flags, keepalive.
    flags = 0x02 if clean_session else 0
    payload = mqtt._str(client_id)
    if will:
        topic, msg, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += mqtt._str(topic) + mqtt._str(msg)
    if username is not None:
        flags |= 0x80
        payload += mqtt._str(username)
        if password is not None:
            flags |= 0x40
            payload += mqtt._str(password)
    var = b"\x00\x04MQTT\x04" + bytes((flags, keepalive >> 8, keepalive & 0xFF))
    return bytes(mqtt._header(0x10, len(var) + len(payload)) + var + payload)  # 0x10: CONNECT, spec 3.1


async def open_session(c):
    """MQTTClient.connect()'s work on client `c` up to an accepted CONNACK: MQTTConnectError when
    refused or not answered."""
    c.lost = None
    own = False  # the client's own TCP stream (tcp.py): its deadline bounds the setup
    try:
        if c.open_connection is not None:
            opening = c.open_connection(c.host, c.port)
        elif sys.implementation.name == "micropython":  # without asyncio's streams (tcp.py)
            from transport import tcp

            own = True
            opening = tcp.open_connection(c.host, c.port, c.ssl, c.server_hostname, c.timeout_ms)
        elif c.ssl is None:
            opening = asyncio.open_connection(c.host, c.port)
        else:
            opening = asyncio.open_connection(c.host, c.port, ssl=c.ssl,
                                              server_hostname=c.server_hostname or c.host)
        c._reader, c._writer = await (opening if own else asyncio.wait_for(opening, c.timeout_ms / 1000))
    except asyncio.TimeoutError:
        raise mqtt.MQTTConnectError(-1, "no answer from %s:%d" % (c.host, c.port))
    except OSError as e:
        if c.ssl is not None:  # CPython shakes hands inside open_connection
            _raise_tls(e)
        raise mqtt.MQTTConnectError(-1, "cannot reach %s:%d (%s)" % (c.host, c.port, e))
    try:
        await c._write(c._connect_packet)
        if own:  # under the stream's deadline, then without it
            typ, body = await c._read_packet()
            c._reader.deadline = None
        else:
            typ, body = await asyncio.wait_for(c._read_packet(), c.timeout_ms / 1000)
    except asyncio.TimeoutError:
        await c._close_socket()
        raise mqtt.MQTTConnectError(-1, "no CONNACK from %s:%d" % (c.host, c.port))
    except (EOFError, OSError, ValueError) as e:
        await c._close_socket()
        if c.ssl is not None:  # MicroPython shakes hands on the first write
            _raise_tls(e)
        if isinstance(e, ValueError):
            raise
        raise mqtt.MQTTConnectError(-1, "connection closed before CONNACK (%s)" % (e,))
    if typ != 0x20 or len(body) != 2:  # 0x20: CONNACK, spec 3.2
        await c._close_socket()
        raise mqtt.MQTTConnectError(-1, "protocol error: expected CONNACK")
    code = body[1]
    if code:
        await c._close_socket()
        # CONNACK return codes, spec 3.2.2.3; a local tuple: built only when a broker refuses.
        reasons = ("accepted", "unacceptable protocol version", "client identifier rejected",
                   "server unavailable", "bad user name or password", "not authorised")
        reason = reasons[code] if code < len(reasons) else "unknown"
        raise mqtt.MQTTConnectError(code, reason)
