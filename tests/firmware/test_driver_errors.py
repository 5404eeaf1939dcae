"""firmware/drivers/errors.py under the real MicroPython: the typed error kinds exist once, are made
only when first used, and keep the `kind` the sensor layer reports."""
import json

from mpy import run_mpy


def test_error_kinds_are_made_on_first_use_once_and_keep_their_kind():
    out = run_mpy("""
import json, sys
from drivers import errors, pms5003, bme680, sht3x, sps30
loaded_by_drivers = "drivers.error_kinds" in sys.modules
from drivers.errors import ChecksumError, SensorTimeout, AbsentError, InvalidDataError, SensorError
kinds = [c.kind for c in (ChecksumError, SensorTimeout, AbsentError, InvalidDataError)]
same = errors.ChecksumError is ChecksumError and errors.AbsentError is AbsentError
try:
    raise errors.SensorTimeout("pms5003", "no data frame")
except SensorError as e:
    caught = [type(e) is SensorTimeout, e.kind, e.sensor]
try:
    errors.NoSuchError
    unknown = "found"
except AttributeError:
    unknown = "AttributeError"
print(json.dumps([loaded_by_drivers, "drivers.error_kinds" in sys.modules, kinds, same, caught, unknown]))
""").stdout
    assert json.loads(out) == [False, True, ["checksum", "timeout", "absent", "invalid"], True,
                               [True, "timeout", "pms5003"], "AttributeError"]
