"""Unloading a module that served once (the boot, one build, one downlink), so that its objects leave
the device's heap instead of staying for every measure-and-publish cycle.

An import leaves two references to a module: sys.modules, and an attribute of its package when it is a
package's module. Both go; the next import loads it again (from ROMFS, without copying its bytecode).
"""
import sys


def forget(name):
    """Unload module `name` ("board", "transport.links"); nothing happens when it is not loaded."""
    sys.modules.pop(name, None)
    package, _, attr = name.rpartition(".")
    parent = sys.modules.get(package) if package else None
    if parent is not None and hasattr(parent, attr):
        delattr(parent, attr)
