"""CPython stand-in for MicroPython's `micropython` module (simulator fallback only)."""


def const(x):
    return x


def native(f):
    return f


def viper(f):
    return f


def mem_info(*args):
    print("mem_info: not available under CPython")


def alloc_emergency_exception_buf(size):
    pass
