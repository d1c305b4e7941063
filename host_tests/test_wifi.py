# test_wifi.py Checks Wi-Fi supervision: a renewed link is noticed, a stuck one is rejoined, a long outage resets.
# Shared: runs under pytest and under the MicroPython unix port (mpy_runner.py). The radio is a
# stand-in: there is no Wi-Fi on a PC.

from wifi import WifiLink


class FakeWlan:
    def __init__(self):
        self.connected = False
        self.connects = 0

    def active(self, on):
        pass

    def connect(self, ssid, password):
        self.connects += 1

    def disconnect(self):
        pass

    def isconnected(self):
        return self.connected

    def status(self, what):
        return -61


def test_each_new_link_gets_a_new_generation():
    wlan = FakeWlan()
    link = WifiLink("home", "pw", 900, wlan=wlan, check_ms=0)
    assert wlan.connects == 1 and not link.poll()
    wlan.connected = True
    assert link.poll() and link.generation == 1 and link.rssi() == -61
    wlan.connected = False
    assert not link.poll() and link.rssi() is None
    wlan.connected = True
    assert link.poll() and link.generation == 2  # MQTT must make a new socket


def test_a_link_down_too_long_is_joined_again_then_the_board_is_reset():
    wlan = FakeWlan()
    resets = []
    link = WifiLink("home", "pw", 3600, reset=lambda: resets.append(1), wlan=wlan, check_ms=0, rejoin_ms=0)
    link.poll()
    assert wlan.connects >= 2 and resets == []  # rejoined, not reset
    link = WifiLink("home", "pw", 0, reset=lambda: resets.append(1), wlan=wlan, check_ms=0)
    link.poll()
    assert resets == [1]


def test_the_unix_port_uses_the_host_network():
    link = WifiLink("", "", 900)
    assert link.poll() and link.generation == 1 and link.rssi() is None
