# test_lib_imports.py Checks every module in lib/ imports on this runtime (and so on the device's).
# Shared: runs under pytest and under the MicroPython unix port (mpy_runner.py).

import os

_LIB = (__file__.rsplit("/", 1)[0] if "/" in __file__ else ".") + "/../lib"


def test_every_lib_module_imports():
    names = [n[:-3] for n in os.listdir(_LIB) if n.endswith(".py")]
    assert len(names) >= 8
    for name in names:
        __import__(name)
