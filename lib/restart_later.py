# restart_later.py Provides Later: stands in for the App's Wi-Fi link for a second, then resets the board (the settings page's restart).
# MIT license
#
# The answer to the page must leave first, and the loop must not sleep: so the reset waits in the
# link's poll(), which the loop calls every pass, and the real link goes on working until then.

import time
from micropython import const

_DELAY_MS = const(1000)


class Later:
    def __init__(self, link):
        self.link = link
        self.at = time.ticks_add(time.ticks_ms(), _DELAY_MS)
        self.wlan = link.wlan
        self.ssid = link.ssid

    @property
    def generation(self):
        return self.link.generation

    def poll(self):
        if time.ticks_diff(time.ticks_ms(), self.at) >= 0:
            print("settings: restarting, as asked on the settings page")
            try:
                import machine

                machine.reset()
            except (ImportError, AttributeError):
                import sys

                sys.exit(3)  # the unix port: end the process, as a reset would
        return self.link.poll()

    def address(self):
        return self.link.address()

    def rssi(self):
        return self.link.rssi()
