"""Typed sensor errors shared by every driver.

Each class carries `kind`, one of the error kinds of docs/wire-format.md (`readings[].errors[].error`),
so the sensor layer reports a failure without knowing which driver raised it: it catches SensorError
and reads `kind`.

The four kinds below SensorError (ChecksumError, SensorTimeout, AbsentError, InvalidDataError) are
defined in drivers/error_kinds.py and made on first use, through this module's __getattr__: a class
takes about 250 bytes of heap on the unix port, and a cycle in which no driver fails never needs them.
Drivers refer to them as `errors.ChecksumError` where they raise or catch one (an `except` clause is
evaluated only when an exception reaches it); `from drivers.errors import ChecksumError` works too.
"""


class SensorError(Exception):
    """Base class: `sensor` is the sensor type (e.g. "sds011"), `kind` the wire-format error kind."""

    kind = "invalid"

    def __init__(self, sensor, message=""):
        super().__init__(sensor, message)
        self.sensor = sensor


def __getattr__(name):
    from drivers import error_kinds

    return getattr(error_kinds, name)
