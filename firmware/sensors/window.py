"""One sensor's averaging window: integer sums, sample counts, errors, and the report with flags.

Drivers give integer readings in fixed point (SDS011: 0.1 ug/m3; BME280: 0.01 degC, Pa/256,
%RH/1024), so a window adds small ints and allocates nothing per sample; the mean is converted to a
float once per cycle.
"""


class Window:
    def __init__(self, sensor, quantities, scales, ranges):
        """`scales[i]`: raw units per unit of quantity i; `ranges[i]`: (low, high) specified range."""
        self.sensor = sensor
        self.quantities = quantities
        self._scales = scales
        self._ranges = ranges
        # Sums, counts and the flags a sensor raised itself (e.g. "overload"), per quantity: made by
        # reset() and dropped by report(), so that between cycles, while the app spools and
        # publishes the reading, they are not in the heap.
        self._sums = self._counts = self._extra = None
        self.kinds = []  # error kinds seen this cycle, each once
        self.planned = 1

    def reset(self, planned):
        """Start a window (before the sensor's begin(): its errors count in this window)."""
        n = len(self.quantities)
        self._sums = [0] * n
        self._counts = [0] * n
        self._extra = [None] * n
        self.kinds.clear()
        self.planned = planned

    def add(self, i, raw):
        self._sums[i] += raw
        self._counts[i] += 1

    def flag(self, i, name):
        """Flag quantity i this cycle (reported with its value; each name once)."""
        f = self._extra[i]
        if f is None:
            self._extra[i] = [name]
        elif name not in f:
            f.append(name)

    def error(self, kind):
        if kind not in self.kinds:
            self.kinds.append(kind)

    def report(self, values, flags, errors):
        """Put means in `values`, flag lists in `flags` (only where a flag applies), errors in `errors`."""
        got_any = False
        for i, q in enumerate(self.quantities):
            n = self._counts[i]
            if n == 0:
                continue
            got_any = True
            mean = self._sums[i] / n / self._scales[i]
            values[q] = mean
            low, high = self._ranges[i]
            f = self._extra[i]  # handed over as it is: the window lets go of it below
            if mean < low or mean > high:
                if f is None:
                    f = ["out_of_range"]
                else:
                    f.append("out_of_range")
            if 2 * n < self.planned:
                if f is None:
                    f = ["few_samples"]
                else:
                    f.append("few_samples")
            if f is not None:
                flags[q] = f
        if not got_any and not self.kinds:
            self.kinds.append("timeout")  # nothing arrived and nobody said why
        for kind in self.kinds:
            errors.append({"sensor": self.sensor, "error": kind})
        self._sums = self._counts = self._extra = None
