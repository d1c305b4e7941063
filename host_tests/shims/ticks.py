# ticks.py Provides install(): MicroPython's time.ticks_* and sleep_ms on CPython's time module, for the tests.
# Host only: never deployed.

import time

_PERIOD = 1 << 30  # MicroPython's ticks wrap at 2**30 like the ports' small ints


def install():
    if hasattr(time, "ticks_ms"):
        return
    time.ticks_ms = lambda: int(time.monotonic() * 1000) % _PERIOD
    time.ticks_add = lambda t, delta: (t + delta) % _PERIOD
    time.ticks_diff = lambda a, b: (a - b + _PERIOD // 2) % _PERIOD - _PERIOD // 2
    time.sleep_ms = lambda ms: time.sleep(ms / 1000)
