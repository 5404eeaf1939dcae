"""Quality flags: pure numpy functions that take arrays of times and values and return flag masks.

`flags` names them and says which ones the calibrated layer excludes; `point` holds the flags one
reading can earn on its own (range, fog); `window` the ones that need a series (stuck, spike, silence,
warm-up after a silence); `drift` compares a device with its neighbours. `spec` reads the sensors'
specified ranges from kits/ (configuration, not data).
"""
