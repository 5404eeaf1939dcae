"""Typed sensor errors shared by every driver.

Each class carries `kind`, one of the error kinds of docs/wire-format.md (`readings[].errors[].error`),
so the sensor layer reports a failure without knowing which driver raised it.
"""


class SensorError(Exception):
    """Base class: `sensor` is the sensor type (e.g. "sds011"), `kind` the wire-format error kind."""

    kind = "invalid"

    def __init__(self, sensor, message=""):
        super().__init__(sensor, message)
        self.sensor = sensor


class ChecksumError(SensorError):
    """A frame or CRC check failed: the frame was dropped."""

    kind = "checksum"


class SensorTimeout(SensorError):
    """No data arrived in time (a UART sensor unplugged, asleep, or a conversion that never ends)."""

    kind = "timeout"


class AbsentError(SensorError):
    """The chip does not answer on its bus, or answers with the wrong identity."""

    kind = "absent"


class InvalidDataError(SensorError):
    """The data is outside what the chip can produce (e.g. a skipped-measurement marker)."""

    kind = "invalid"


class ModemError(Exception):
    """An AT-command modem answered ERROR (or a result the command does not expect): `command` is
    the command sent, `result` the final result line."""

    def __init__(self, command, result=""):
        super().__init__(command, result)
        self.command = command
        self.result = result


class ModemCMEError(ModemError):
    """+CME ERROR: <err>, an error of the mobile equipment; `code` per 3GPP TS 27.007 section 9.2
    (e.g. 10 SIM not inserted, 30 no network service, 148 unspecified GPRS error)."""

    def __init__(self, command, code):
        super().__init__(command, "+CME ERROR: %d" % code)
        self.code = code


class ModemTimeout(ModemError):
    """No final result in time: the modem is off, asleep, on another baud rate or wedged."""


class ModemNotRegistered(ModemError):
    """The modem is not registered on the network: `stat` per 3GPP TS 27.007 section 7.2 (+CREG)
    and 10.1.22 (+CEREG): 0 not searching, 2 searching, 3 registration denied, 4 unknown."""

    def __init__(self, command, stat):
        super().__init__(command, "stat %d" % stat)
        self.stat = stat


class ModemClosed(ModemError):
    """The modem's TCP connection is closed (the peer or the network dropped it)."""
