# setup_mode.py Provides start(): the setup access point HAN-xxxx, the networks it sees, and joining the one chosen, in place of the App's Wi-Fi link.
# MIT license
#
# Imported only while setup runs (lib/boot_guard.py at boot with no Wi-Fi network set, after a short
# press of BOOT in the boot window, or the settings page's button) and dropped as soon as the App
# holds the SetupLink, whose code goes once setup is over. The App's loop goes on as before: the
# meter is read, and the setup page is the web server's "/" (docs/setup.md).
#
# The access point is open (no password) and lives 10 minutes from when it opened, or 2 minutes after
# the dongle has joined the network chosen (so the page can say where the dongle is now); the
# dongle's config is guarded by the admin password once one is set. docs/setup.md says why.

import os
import time
from micropython import const

_AP_S = const(600)  # an open access point with nobody setting up closes after 10 minutes
_LINGER_S = const(120)  # kept this long after joining, so the page can show the new address
_NETWORKS = const(15)  # strongest networks listed
_PAGE = __file__.rsplit("/", 1)[0] + "/setup_page.html" if "/" in __file__ else "setup_page.html"


def _env(name, default):
    getenv = getattr(os, "getenv", None)
    return int((getenv(name) if getenv else None) or default)


def start(app, why):
    if getattr(app, "setup", None) is not None:  # open already: it lives 10 minutes from now
        app.setup.until = time.ticks_add(time.ticks_ms(), _AP_S * 1000)
        return
    app.setup = SetupLink(app, why)
    app.link = app.setup
    app.web.routes["/"] = _page
    app.log("setup: %s; access point %s open for %d min, setup page http://%s/" % (
        why, app.setup.essid, _AP_S // 60, app.setup.ap.ifconfig()[0]))


def _page():
    return "text/html; charset=utf-8", _PAGE


class SetupLink:
    # the App's link while setup runs: the access point, and the station that joins the chosen network
    def __init__(self, app, why):
        import network

        self.app = app
        self.why = why
        self.old = app.link  # the station link of the config in use (may have no network set)
        self.wlan = self.old.wlan  # the station interface
        self.ssid = self.old.ssid
        self.reset = self.old.reset
        self.essid = "HAN-" + app.device_id[-4:]
        self.ap = network.WLAN(getattr(network.WLAN, "IF_AP", None) or network.AP_IF)
        self.ap.active(True)
        try:
            self.ap.config(essid=self.essid, authmode=getattr(network, "AUTH_OPEN", 0))
        except (OSError, ValueError, TypeError):
            self.ap.config(essid=self.essid)
        self.until = time.ticks_add(time.ticks_ms(), _env("HAN_SETUP_AP_S", _AP_S) * 1000)
        self.joined_at = None
        self.joining = None  # WifiLink to the network chosen
        self.hostname = "han-" + app.device_id[-4:]
        try:
            network.hostname(self.hostname)  # DHCP name, and the ESP32's mDNS responder answers <name>.local
        except (AttributeError, OSError, ValueError):
            self.hostname = None
        self.networks = []
        self.scan()

    @property
    def generation(self):
        return self.old.generation if self.joining is None else self.joining.generation

    def scan(self):
        # the networks in range, strongest first: [[name, dBm], ...]. Blocks ~2 s on an ESP32 (the
        # UART's ring and driver buffer hold 9 s), so only when setup opens and when asked
        best = {}
        try:
            found = self.wlan.scan() if self.wlan is not None else []
        except OSError:
            found = []
        for ssid, _, _, rssi, _, hidden in found:
            try:
                name = ssid.decode()
            except UnicodeError:
                continue
            if name and not hidden and rssi > best.get(name, -999):
                best[name] = rssi
        self.networks = sorted(([k, v] for k, v in best.items()), key=lambda n: -n[1])[:_NETWORKS]

    def join(self, ssid, password):
        from wifi import WifiLink

        if self.wlan is not None:
            try:
                self.wlan.disconnect()
            except OSError:
                pass
        self.joining = WifiLink(ssid, password, 86400, None, wlan=self.wlan, check_ms=500)
        self.joining.generation = self.old.generation
        self.ssid = ssid
        self.joined_at = None

    def poll(self):
        now = time.ticks_ms()
        up = self.joining.poll() if self.joining is not None else self.old.poll()
        if up and self.joining is not None and self.joined_at is None:
            self.joined_at = now
            self.until = time.ticks_add(now, _env("HAN_SETUP_LINGER_S", _LINGER_S) * 1000)
            self.app.log("setup: joined %s as %s" % (self.ssid, self.address()))
        if time.ticks_diff(now, self.until) >= 0:
            self._close()
        return up

    def _close(self):
        # setup is over: the access point goes, the App gets a plain link back
        self.ap.active(False)
        link = self.joining or self.old
        if self.joining is not None:
            link.reset_after_s = self.app.cfg["wifi.reset_after_s"]
            link.reset = self.reset
            link.check_ms = 2000
        self.app.link = link
        self.app.setup = None
        self.app.web.routes["/"] = self.app._page
        self.app.log("setup: access point %s closed" % self.essid)

    def info(self):
        # for the page: the access point, and how joining the chosen network goes
        state = None
        if self.joining is not None:
            st = self.wlan.status() if self.wlan is not None else None
            import network

            state = "joined" if self.joined_at is not None else {
                getattr(network, "STAT_WRONG_PASSWORD", -1): "wrong password",
                getattr(network, "STAT_NO_AP_FOUND", -1): "network not found"}.get(st, "joining")
        port = self.app.cfg["http.port"]
        tail = "/" if port == 80 else ":%d/" % port
        return {"ap": self.essid, "networks": self.networks, "join": None if state is None else {
            "ssid": self.ssid, "state": state, "address": self.address(), "url": ("http://%s%s" % (self.address(), tail)) if self.joined_at is not None else None,
            "mdns": ("http://%s.local%s" % (self.hostname, tail)) if self.hostname and _mdns() else None}}

    def address(self):
        link = self.joining or self.old
        return link.address() if link.up else None

    def rssi(self):
        link = self.joining or self.old
        return link.rssi()


def _mdns():
    # the ESP32 port answers mDNS queries for its host name; the unix port does not
    import sys

    return sys.platform == "esp32"
