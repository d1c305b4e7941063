# network.py Provides a stand-in Wi-Fi for the unix port: the link is up unless the control file says "down".
# Test-only (soak and Wi-Fi tests): put this folder on MICROPYPATH and name the file in HAN_WIFI_CONTROL.
# The PC's own network carries the traffic; only what the firmware sees of the link is simulated.

import os

STA_IF = 0
STAT_GOT_IP = 1010


class WLAN:
    IF_STA = 0

    def __init__(self, interface=0):
        self._control = os.getenv("HAN_WIFI_CONTROL") or "wifi.control"

    def active(self, on=None):
        return True

    def connect(self, ssid=None, key=None):
        pass

    def disconnect(self):
        pass

    def isconnected(self):
        try:
            with open(self._control) as f:
                return f.read().strip() != "down"
        except OSError:
            return True

    def status(self, what=None):
        return -58 if what == "rssi" else STAT_GOT_IP

    def ifconfig(self):
        return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")
