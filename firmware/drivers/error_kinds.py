"""The error kinds of drivers/errors.py, loaded the first time a driver raises or catches one."""
from drivers.errors import SensorError


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
