"""Derived numbers for people: local weather (dew point, heat index, humidex, sea-level pressure,
Zambretti forecast), air quality indices (European, French ATMO, US AQI) and noise (Lden).

Pure functions, no I/O: the host view and the alert job call them; the tests check each against the
published values in shared/guide/reference.md. Every constant cites its source.
"""
