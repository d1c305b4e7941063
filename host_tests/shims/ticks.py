# ticks.py Provides install(): MicroPython's time.ticks_* on CPython's time module, wrapping like a 32-bit device.
# Host only: never deployed. host_tests/mpy_time/time.py does the same for the MicroPython runtimes.
#
# The period is 2**30 ms, as on the ESP32, and the count starts 30 s before the wrap, so every
# test that runs longer than that crosses it. advance_ms() moves the clock on, as if that much time
# had passed, for tests of days-long spans.

import time

_PERIOD = 1 << 30
_START = _PERIOD - 30000
_offset = 0


def _ticks_ms():
    return (int(time.monotonic() * 1000) - _zero + _START + _offset) % _PERIOD


def _advance_ms(ms):
    global _offset
    _offset += ms


def install():
    global _zero
    if hasattr(time, "ticks_ms"):
        return
    _zero = int(time.monotonic() * 1000)
    time.ticks_ms = _ticks_ms
    time.ticks_add = lambda t, delta: (t + delta) % _PERIOD
    time.ticks_diff = lambda a, b: (a - b + _PERIOD // 2) % _PERIOD - _PERIOD // 2
    time.sleep_ms = lambda ms: time.sleep(ms / 1000)
    time.advance_ms = _advance_ms
