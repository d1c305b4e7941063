# clock.py Provides seconds(): seconds since boot from a counter that cannot wrap, for spans that can last days.
# MIT license
#
# time.ticks_ms() wraps at 2**30 ms on a 32-bit port (every 12.4 days), so ticks_diff() is only
# right across less than 6.2 days: an uptime, the age of the last frame or a back-off deadline
# taken from it goes wrong on a dongle that runs for a week. Here each call adds the few
# milliseconds since the previous one, and the main loop calls tick() every pass, so no single
# difference comes near the wrap. The counts stay small ints (2**30 s is 34 years).

import time

_last = time.ticks_ms()
_ms = 0  # milliseconds not yet counted as a whole second
_seconds = 0


def tick():
    # call at least once a day (the main loop calls it every pass); returns seconds()
    global _last, _ms, _seconds
    now = time.ticks_ms()
    _ms += time.ticks_diff(now, _last)
    _last = now
    if _ms >= 1000:
        _seconds += _ms // 1000
        _ms %= 1000
    return _seconds


def seconds():
    return tick()
