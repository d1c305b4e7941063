# test_setup.py Checks first-boot setup in headless Chromium: the access point HAN-xxxx, its page, an error shown at its field, joining the stand-in network and publishing.
# The unix port's stand-in Wi-Fi (host_tests/mpy_wifi/network.py) plays the access point and the networks in range.

import json
import os

from browser import Browser
from harness import Firmware, Recorder, Replay, wait_until
from test_firmware_mqtt import KAIFA_REPLAY

NETWORKS = [{"ssid": "home", "password": "wifi-secret-1", "rssi": -48}, {"ssid": "neighbour", "password": "x", "rssi": -81},
            {"ssid": "home", "password": "wifi-secret-1", "rssi": -70}]
ADMIN = "admin-pass-9"


def _ap(fw):
    with open(os.path.join(fw.dir, "wifi.control.ap")) as f:
        return json.load(f)


def first_boot(tmp_path):
    replay = Replay(KAIFA_REPLAY, speed=10, loop=True)
    control = tmp_path / "wifi.control"
    fw = Firmware(tmp_path, None, replay.port, wifi_control=str(control), wifi_networks=NETWORKS)
    return replay, fw


def test_first_boot_opens_the_access_point_and_chromium_sets_the_dongle_up(tmp_path, broker):
    replay, fw = first_boot(tmp_path)
    browser = None
    recorder = Recorder(broker.port, topics=("han/test/#",))
    try:
        assert _ap(fw) == {"active": True, "essid": "HAN-test", "authmode": 0}
        assert "access point HAN-test open" in fw.output()
        browser = Browser(tmp_path)
        url = "http://127.0.0.1:%d/" % fw.http_port
        browser.open(url, "document.getElementById('form').hidden === false")
        assert browser.text("seen") == "Seen: home (-48 dBm), neighbour (-81 dBm)"  # strongest of each name, strongest first
        assert browser.text("device") == "device test · access point HAN-test"
        assert browser.js("document.getElementById('meter.serial').value") == "auto"

        # a wrong field: shown next to it, nothing saved
        browser.fill({"wifi.ssid": "home", "wifi.password": "wifi-secret-1", "mqtt.host": "127.0.0.1", "mqtt.port": "18x3",
                      "meter.serial": "kaifa", "board": "host", "admin.password": ADMIN})
        browser.js("document.getElementById('save').click()")
        browser.wait("document.getElementById('err-mqtt.port').textContent")
        assert browser.text("err-mqtt.port") == 'mqtt.port: must be a whole number (got "18x3")'
        assert browser.text("err-wifi.ssid") == "" and browser.text("msg") == "Not saved: see the fields marked."
        assert not os.path.exists(fw.config_path)

        # corrected: saved, the dongle joins "home" and publishes
        browser.fill({"mqtt.port": str(broker.port)})
        browser.js("document.getElementById('save').click()")
        done = browser.wait("document.getElementById('done').textContent.indexOf('Joined') === 0 && "
                            "document.getElementById('done').textContent")
        assert done.startswith("Joined home as 127.0.0.1. From now on the dongle is at http://127.0.0.1:%d/" % fw.http_port)
        assert browser.text("err-mqtt.port") == ""
        wait_until(lambda: recorder.on("han/test/power", live_only=True), 30, "power messages from the dongle")
        with open(fw.config_path) as f:
            saved = json.load(f)
        assert saved["wifi"] == {"ssid": "home", "password": "wifi-secret-1"}
        assert saved["mqtt"] == {"host": "127.0.0.1", "port": broker.port, "tls": False}
        assert saved["meter"] == {"serial": "kaifa"} and saved["board"] == "host"
        assert ADMIN not in json.dumps(saved) and saved["admin"]["password_hash"].startswith("1000$")
        assert "setup: joined home as 127.0.0.1" in fw.output()
        assert fw.status()["frames"]["bad_fcs"] == 0
    finally:
        if browser:
            browser.close()
        recorder.close()
        fw.kill()
        replay.stop()


def test_a_wrong_wifi_password_is_said_and_the_access_point_stays_until_the_dongle_has_joined(tmp_path, broker, monkeypatch):
    monkeypatch.setenv("HAN_SETUP_LINGER_S", "2")  # the access point closes 2 s after joining, not 2 minutes
    replay, fw = first_boot(tmp_path)
    browser = Browser(tmp_path)
    try:
        browser.open("http://127.0.0.1:%d/" % fw.http_port, "document.getElementById('form').hidden === false")
        browser.fill({"wifi.ssid": "home", "wifi.password": "not-it", "mqtt.host": "127.0.0.1", "mqtt.port": str(broker.port),
                      "admin.password": ADMIN})
        browser.js("document.getElementById('save').click()")
        browser.wait("document.getElementById('done').textContent.indexOf('wrong password') > 0")
        assert browser.text("done") == "Joining home: wrong password (check it and save again)"
        assert _ap(fw)["active"]
        # fixed: the admin password chosen a moment ago is now asked for
        browser.open("http://127.0.0.1:%d/" % fw.http_port, "document.getElementById('form').hidden === false")
        assert browser.js("document.getElementById('current_box').hidden") is False
        browser.fill({"wifi.password": "wifi-secret-1", "admin.current": ADMIN})
        browser.js("document.getElementById('save').click()")
        browser.wait("document.getElementById('done').textContent.indexOf('Joined home') === 0")
        wait_until(lambda: not _ap(fw)["active"], 30, "the access point to close")
        assert "setup: access point HAN-test closed" in fw.output()
        assert b"status_page.html" in fw.get("/")[1]  # "/" is the status page again
        assert fw.get("/setup")[0] == 200 and b"setup_page" in fw.get("/settings")[1]  # /setup sends to /settings
        wait_until(lambda: fw.status()["mqtt"]["state"] == "connected", 30, "MQTT")
    finally:
        browser.close()
        fw.kill()
        replay.stop()
