# wifi.py Provides WifiLink: joins the network, watches it, rejoins, and resets the board after a long outage.
# MIT license
#
# The ESP32 port already re-associates by itself; this adds what it does not do: a fresh
# connect() when that takes too long, a board reset as the last resort, and a `generation`
# number that changes on every new link so the MQTT client knows its socket is dead.
# On the unix port there is no `network` module: the PC's own network is always up.

import time

import clock
from micropython import const

_CHECK_MS = const(2000)
_REJOIN_MS = const(60000)  # disconnected this long: disconnect() and connect() again


class WifiLink:
    def __init__(self, ssid, password, reset_after_s, reset=None, wlan=None, check_ms=_CHECK_MS, rejoin_ms=_REJOIN_MS):
        self.ssid = ssid
        self.password = password
        self.reset_after_s = reset_after_s  # up to a day: counted in clock seconds, not ticks
        self.reset = reset  # called after a long outage (machine.reset on a device)
        self.generation = 0  # +1 on every new link
        self.up = False
        self.check_ms = check_ms
        self.rejoin_ms = rejoin_ms
        self._down_since_s = clock.seconds()
        self._next_check = time.ticks_ms()
        self._rejoin_at = time.ticks_add(self._next_check, rejoin_ms)
        if wlan is None:
            try:
                import network
            except ImportError:
                self.wlan = None  # unix port: the host's network
                self.up = True
                self.generation = 1
                return
            wlan = network.WLAN(network.WLAN.IF_STA if hasattr(network.WLAN, "IF_STA") else network.STA_IF)
        self.wlan = wlan
        self.wlan.active(True)
        if ssid:
            self.wlan.connect(ssid, password)

    def poll(self):
        # cheap to call every loop; looks at the link every 2 s
        if self.wlan is None:
            return self.up
        now = time.ticks_ms()
        if time.ticks_diff(now, self._next_check) < 0:
            return self.up
        self._next_check = time.ticks_add(now, self.check_ms)
        connected = self.wlan.isconnected()
        if connected and not self.up:
            self.generation += 1
        if not connected and self.up:
            self._down_since_s = clock.seconds()
            self._rejoin_at = time.ticks_add(now, self.rejoin_ms)
        self.up = connected
        if not connected and self.ssid:
            if clock.seconds() - self._down_since_s >= self.reset_after_s and self.reset:
                self.reset()
            elif time.ticks_diff(now, self._rejoin_at) >= 0:
                self._rejoin_at = time.ticks_add(now, self.rejoin_ms)
                try:
                    self.wlan.disconnect()
                    self.wlan.connect(self.ssid, self.password)
                except OSError:
                    pass  # the port is mid-connect; next round
        return self.up

    def address(self):
        # the board's IP address, for the console and the status page
        if self.wlan is None or not self.up:
            return None
        try:
            return self.wlan.ifconfig()[0]
        except (OSError, AttributeError):
            return None

    def rssi(self):
        if self.wlan is None or not self.up:
            return None
        try:
            return self.wlan.status("rssi")
        except (OSError, ValueError, TypeError):
            return None
