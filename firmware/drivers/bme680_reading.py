"""The object BME680.read() and compensate() fill (drivers/bme680.py).

In its own module, imported by the first compensate(): the sensor layer reads through compensate_int()
(integers into a reused list), so a kit's heap never holds this class.
"""


class Reading:
    """Compensated values; attributes, or keys: r.temperature == r["temperature"]."""

    def __init__(self):
        self.temperature = 0.0  # degC
        self.pressure = 0.0  # hPa
        self.humidity = 0.0  # %RH, unclamped
        self.gas_resistance = None  # ohm; None without a valid gas conversion
        self.gas_valid = False
        self.heat_stable = False

    def __getitem__(self, key):
        return getattr(self, key)
