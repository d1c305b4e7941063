# clock.py Provides seconds(): seconds since boot. Stand-in until the lead's clock.py (a counter that cannot wrap) lands.
# MIT license

import time


def seconds():
    return time.ticks_ms() // 1000  # wraps with ticks (12.4 days on a device); the lead's version does not


def tick():
    pass
