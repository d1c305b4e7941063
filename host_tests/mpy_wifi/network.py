# network.py Provides a stand-in Wi-Fi for the unix port: a station whose link is up unless the control file says "down", and an access point.
# Test-only (soak, Wi-Fi and setup tests): put this folder on MICROPYPATH and name the file in HAN_WIFI_CONTROL.
# The PC's own network carries the traffic; only what the firmware sees of the link is simulated.
#
# The networks "in range" are HAN_WIFI_NETWORKS, a JSON file [{"ssid": ..., "password": ..., "rssi": ...}]:
# scan() lists them, and connect() joins one only with its password (a wrong one gives
# STAT_WRONG_PASSWORD, an unknown name STAT_NO_AP_FOUND). Without that file any name joins, as before.
# What the access point does is written to "<control file>.ap" (JSON: active, essid, authmode), so a
# test can see the AP the firmware opened without asking the firmware.

import json
import os

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_WRONG_PASSWORD = 202
STAT_NO_AP_FOUND = 201
STAT_GOT_IP = 1010
AUTH_OPEN = 0
AUTH_WPA2_PSK = 3

_hostname = "mpy-unix"


def hostname(name=None):
    global _hostname
    if name is None:
        return _hostname
    _hostname = name


def _networks():
    path = os.getenv("HAN_WIFI_NETWORKS")
    if not path:
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return []


class WLAN:
    IF_STA = 0
    IF_AP = 1

    def __init__(self, interface=0):
        self._if = interface
        self._control = os.getenv("HAN_WIFI_CONTROL") or "wifi.control"
        self._active = interface == STA_IF
        self._essid = None
        self._authmode = AUTH_OPEN
        self._status = STAT_IDLE
        self._joined = None

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)
        if self._if == AP_IF:
            self._write_ap()

    def config(self, *names, **values):
        if values:
            self._essid = values.get("essid", values.get("ssid", self._essid))
            self._authmode = values.get("authmode", self._authmode)
            if self._if == AP_IF:
                self._write_ap()
            return None
        return {"essid": self._essid, "ssid": self._essid, "authmode": self._authmode, "mac": b"\x02\x00\x00\x00\x00\x01"}[names[0]]

    def _write_ap(self):
        with open(self._control + ".ap", "w") as f:
            json.dump({"active": self._active, "essid": self._essid, "authmode": self._authmode}, f)

    def scan(self):
        # (ssid, bssid, channel, RSSI, security, hidden), as the ESP32 gives them
        return [(n["ssid"].encode(), b"\x02\x00\x00\x00\x00\x02", 6, n.get("rssi", -60), AUTH_WPA2_PSK, False)
                for n in (_networks() or [])]

    def connect(self, ssid=None, key=None):
        networks = _networks()
        self._joined = None
        if networks is None:
            self._joined, self._status = ssid, STAT_GOT_IP
            return
        for n in networks:
            if n["ssid"] == ssid:
                ok = n.get("password", "") == (key or "")
                self._status = STAT_GOT_IP if ok else STAT_WRONG_PASSWORD
                self._joined = ssid if ok else None
                return
        self._status = STAT_NO_AP_FOUND

    def disconnect(self):
        self._joined = None
        self._status = STAT_IDLE

    def isconnected(self):
        if self._if == AP_IF:
            return self._active
        if _networks() is not None and self._joined is None:
            return False
        try:
            with open(self._control) as f:
                return f.read().strip() != "down"
        except OSError:
            return True

    def status(self, what=None):
        if what == "rssi":
            return -58
        if self._if == STA_IF and _networks() is not None:
            return self._status
        return STAT_GOT_IP

    def ifconfig(self):
        if self._if == AP_IF:
            return ("192.168.4.1", "255.255.255.0", "192.168.4.1", "192.168.4.1")
        return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")
