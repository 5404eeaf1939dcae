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
