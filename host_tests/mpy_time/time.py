# time.py Provides MicroPython's time module with ticks that wrap like a 32-bit ESP32's, for the host runtimes.
# Test-only stand-in, first on the path of the unix port and the 32-bit runtime: never deployed
# (on a device it would shadow the built-in).
#
# The x64 unix port's ticks wrap at 2**62, so no host run ever sees the wrap. Here they wrap at
# 2**30 ms like the ESP32's, and start 30 s before the wrap, so every run longer than that crosses
# it (HAN_TICKS_BEFORE_WRAP_MS sets another start). advance_ms() moves the clock on, as if that much time had passed, for days-long spans.
# Everything stays a small int at 31 bits: no allocation on the hot path.

import sys

_path = sys.path
sys.path = ()
try:
    from time import *  # the built-in module's functions
    from time import ticks_ms as _real_ticks_ms
finally:
    sys.path = _path
    del _path

_PERIOD = 1 << 30
_MASK = _PERIOD - 1
_HALF = 1 << 29


def _before_wrap_ms():
    # HAN_TICKS_BEFORE_WRAP_MS moves the start (the firmware tests); 30 s by default
    import os

    getenv = getattr(os, "getenv", None)
    return int((getenv and getenv("HAN_TICKS_BEFORE_WRAP_MS")) or 30000)


_offset = _PERIOD - _before_wrap_ms() - (_real_ticks_ms() & _MASK)
_offset &= _MASK


def ticks_ms():
    r = _real_ticks_ms() & _MASK
    d = _PERIOD - _offset  # r + _offset without passing 2**30 (a big int on 32 bits)
    return r - d if r >= d else r + _offset


def ticks_add(t, delta):
    return (t + delta) & _MASK


def ticks_diff(a, b):
    return ((a - b + _HALF) & _MASK) - _HALF


def advance_ms(ms):
    global _offset
    _offset = (_offset + ms) & _MASK
