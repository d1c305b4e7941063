# release.py Provides MINIMUM, the oldest MicroPython release the firmware runs on, and status() of the one running.
# MIT license
#
# v1.26.0 for every chip: v1.22 and older cannot load the compiled .mpy files ("incompatible .mpy
# file"), the ESP32-C3 has no RV32 native code before v1.24, and v1.24.0-v1.25.0 install the UART
# driver without its event queue when rxbuf= is passed, so the UART IRQ never runs (fixed in v1.26.0).
# `make deploy` refuses an older board; the firmware says it at boot and in /api/status.

import sys

MINIMUM = (1, 26, 0)


def running():
    return tuple(sys.implementation.version[:3])


def text(version):
    return "%d.%d.%d" % tuple(version[:3])


def status(version=None):
    # {"version": "1.27.0", "minimum": "1.26.0", "supported": true}
    v = running() if version is None else tuple(version[:3])
    return {"version": text(v), "minimum": text(MINIMUM), "supported": v >= MINIMUM}


def line(version=None):
    # the console line at boot
    s = status(version)
    if s["supported"]:
        return "MicroPython %s (this firmware needs %s or newer)" % (s["version"], s["minimum"])
    return "MicroPython %s is older than %s, the oldest this firmware supports: flash v%s or newer (README, Flashing)" % (
        s["version"], s["minimum"], s["minimum"])
