# test_settings.py Checks /settings: the admin login slowed down after a wrong password, cross-site changes refused, no secret in any answer, a new broker applied without losing a frame.

import http.client
import json
import time
import urllib.parse

from form_req import hash_password
from harness import Broker, Firmware, Recorder, Replay, wait_until
from test_firmware_mqtt import KAIFA_REPLAY, _replay_frames

ADMIN = "admin-pass-9"
SECRETS = ("wifi-secret-1", "mqtt-secret-2", ADMIN)


def _config(broker_port):
    return {"wifi": {"ssid": "home", "password": "wifi-secret-1"}, "meter": {"serial": "kaifa"},
            "mqtt": {"host": "127.0.0.1", "port": broker_port, "user": "han", "password": "mqtt-secret-2"},
            "admin": {"password_hash": hash_password(ADMIN)}}


def _request(fw, method, path, fields=None, cookie=None, origin="same"):
    # (status, headers, body text); a browser's POST carries the page's Origin
    c = http.client.HTTPConnection("127.0.0.1", fw.http_port, timeout=10)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if cookie:
        headers["Cookie"] = cookie
    if origin == "same":
        origin = "http://127.0.0.1:%d" % fw.http_port
    if origin:
        headers["Origin"] = origin
    body = urllib.parse.urlencode(fields or {}) if method == "POST" else None
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    answer = r.status, dict(r.getheaders()), r.read().decode()
    c.close()
    return answer


def _login(fw, password=ADMIN):
    status, headers, body = _request(fw, "POST", "/settings/login", {"password": password})
    cookie = headers.get("Set-Cookie", "")
    return status, json.loads(body), cookie.split(";")[0], cookie


def _session(fw):
    status, _, cookie, _ = _login(fw)
    assert status == 200
    state = json.loads(_request(fw, "GET", "/settings/state", cookie=cookie)[2])
    return cookie, state["csrf"]


def _start(tmp_path, broker, replay_loop=True):
    replay = Replay(KAIFA_REPLAY, speed=10, loop=replay_loop)
    fw = Firmware(tmp_path, _config(broker.port), replay.port, wifi_control=str(tmp_path / "wifi.control"),
                  wifi_networks=[{"ssid": "home", "password": "wifi-secret-1"}])
    return replay, fw


def test_a_wrong_admin_password_is_refused_and_the_next_try_waits_while_the_meter_is_read(tmp_path, broker):
    replay, fw = _start(tmp_path, broker)
    try:
        assert fw.get("/api/status")[0] == 200 and fw.get("/")[0] == 200  # readable without a password
        state = json.loads(_request(fw, "GET", "/settings/state")[2])
        assert state["authed"] is False and "values" not in state and "csrf" not in state
        status, answer, cookie, _ = _login(fw, "guess-1")
        assert status == 403 and answer["wait_s"] == 1 and not cookie
        time.sleep(1.2)
        status, answer, cookie, _ = _login(fw, "guess-2")
        assert status == 403 and answer["wait_s"] == 2  # doubled
        frames = fw.status()["frames"]["ok"]
        status, headers, body = _request(fw, "POST", "/settings/login", {"password": ADMIN})
        assert status == 429 and headers["Retry-After"] in ("1", "2")  # even the right one waits
        assert "wait" in json.loads(body)["error"] and "Set-Cookie" not in headers
        wait_until(lambda: fw.status()["frames"]["ok"] > frames, 20, "frames decoded during the wait")  # no sleep in the loop
        time.sleep(2.1)
        status, answer, cookie, raw = _login(fw)
        assert status == 200 and cookie.startswith("han_session=")
        assert "HttpOnly" in raw and "SameSite=Strict" in raw
        assert "wrong admin password (2 in a row; next try in 2 s)" in fw.output()
    finally:
        fw.kill()
        replay.stop()


def test_changes_from_another_site_or_without_a_session_or_token_are_refused(tmp_path, broker):
    replay, fw = _start(tmp_path, broker)
    try:
        cookie, csrf = _session(fw)
        change = {"mqtt.host": "10.6.6.6", "csrf": csrf}
        before = open(fw.config_path).read()
        status, _, body = _request(fw, "POST", "/settings/save", change, cookie=cookie, origin="http://evil.example")
        assert status == 403 and "another site" in body
        status, _, body = _request(fw, "POST", "/settings/save", {"mqtt.host": "10.6.6.6"}, cookie=cookie)
        assert status == 403 and "stale" in body  # no CSRF token
        status, _, body = _request(fw, "POST", "/settings/save", change)  # no session
        assert status == 403 and "not logged in" in body
        status, _, body = _request(fw, "POST", "/settings/restart", {"csrf": csrf}, cookie=cookie, origin="http://evil.example")
        assert status == 403
        assert open(fw.config_path).read() == before and fw.proc.poll() is None
    finally:
        fw.kill()
        replay.stop()


def test_no_secret_is_in_any_answer_and_a_blank_field_keeps_it(tmp_path, broker):
    replay, fw = _start(tmp_path, broker)
    try:
        cookie, csrf = _session(fw)
        answers = [_request(fw, "GET", p, cookie=cookie)[2] for p in ("/", "/api/status", "/settings", "/settings/state")]
        state = json.loads(answers[-1])
        assert state["secrets_set"] == {"wifi.password": True, "mqtt.password": True}
        assert state["values"]["mqtt.user"] == "han"
        status, _, body = _request(fw, "POST", "/settings/save", {"mqtt.user": "han2", "mqtt.password": "", "wifi.password": "",
                                                                   "csrf": csrf}, cookie=cookie)
        assert status == 200, body
        answers.append(body)
        answers.append(_request(fw, "GET", "/settings/state", cookie=cookie)[2])
        saved = json.load(open(fw.config_path))
        assert saved["mqtt"]["user"] == "han2" and saved["mqtt"]["password"] == "mqtt-secret-2"  # blank kept it
        assert saved["wifi"]["password"] == "wifi-secret-1"
        stored_hash = saved["admin"]["password_hash"]
        for text in answers:
            for secret in SECRETS + (stored_hash, stored_hash.split("$")[2]):
                assert secret not in text
    finally:
        fw.kill()
        replay.stop()


def test_a_new_broker_is_applied_without_losing_a_frame(tmp_path, broker):
    other = Broker(tmp_path / "other") if (tmp_path / "other").mkdir() is None else None
    replay, fw = _start(tmp_path, broker, replay_loop=False)
    on_old = Recorder(broker.port, topics=("han/test/power",))
    on_new = Recorder(other.port, topics=("han/test/power",))
    try:
        wait_until(lambda: on_old.on("han/test/power"), 30, "power on the first broker")
        cookie, csrf = _session(fw)
        status, _, body = _request(fw, "POST", "/settings/save", {"mqtt.port": str(other.port), "csrf": csrf}, cookie=cookie)
        assert status == 200 and json.loads(body)["restart_for"] == []
        wait_until(lambda: on_new.on("han/test/power"), 30, "power on the new broker")
        wait_until(replay.done, 120, "the replay to end")
        sent = len(_replay_frames(KAIFA_REPLAY))
        wait_until(lambda: fw.status()["frames"]["ok"] == sent, 20, "every frame decoded")
        s = fw.status()
        assert s["uart"]["overflow"] == 0 and s["frames"]["bad_fcs"] == 0 and s["mqtt"]["state"] == "connected"
        assert json.load(open(fw.config_path))["mqtt"]["port"] == other.port
        assert "settings: config.json saved" in fw.output()
    finally:
        on_old.close()
        on_new.close()
        fw.kill()
        replay.stop()
        other.stop()


def test_a_new_serial_setting_is_applied_at_once_and_auto_finds_the_meter_again(tmp_path, broker):
    replay, fw = _start(tmp_path, broker)
    try:
        wait_until(lambda: fw.status()["decoder"]["decoded"], 30, "the first message")
        assert fw.status()["serial"]["protocol"] == "hdlc"  # "kaifa" reads HDLC alone
        cookie, csrf = _session(fw)
        status, _, body = _request(fw, "POST", "/settings/save", {"meter.serial": "auto", "csrf": csrf}, cookie=cookie)
        assert status == 200 and json.loads(body)["restart_for"] == []
        wait_until(lambda: fw.status()["serial"]["setting"] == "auto", 10, "the new setting in use")
        before = fw.status()["decoder"]["decoded"]
        wait_until(lambda: fw.status()["serial"]["protocol"] == "hdlc" and fw.status()["decoder"]["decoded"] > before, 30,
                   "auto to find HDLC frames again")
        assert fw.status()["serial"]["settled"] and "serial: HDLC frames at 2400 8E1" in fw.output()
    finally:
        fw.kill()
        replay.stop()


def test_frames_that_passed_before_a_serial_change_do_not_settle_the_new_setting(tmp_path, broker):
    # "kaifa" to "auto" with the meter gone quiet: nothing has passed at the new setting, so auto must go
    # on searching; counted from before, it would settle on its first try (2400 8E1, whatever the meter)
    replay, fw = _start(tmp_path, broker)
    try:
        wait_until(lambda: fw.status()["decoder"]["decoded"], 30, "the first message")
        replay.stop()
        cookie, csrf = _session(fw)
        status, _, body = _request(fw, "POST", "/settings/save", {"meter.serial": "auto", "csrf": csrf}, cookie=cookie)
        assert status == 200 and json.loads(body)["restart_for"] == []
        wait_until(lambda: fw.status()["serial"]["setting"] == "auto", 10, "the new setting in use")
        since = fw.status()["uptime_s"]
        wait_until(lambda: fw.status()["uptime_s"] >= since + 3, 10, "three of the loop's checks a second")
        s = fw.status()
        assert not s["serial"]["settled"] and s["serial"]["protocol"] is None and s["frames"]["ok"] == 0, s["serial"]
        assert not (tmp_path / "serial.json").exists()  # nothing found, nothing kept for the next boot
    finally:
        fw.kill()
        replay.stop()


def test_the_settings_buttons_open_the_setup_access_point_and_restart(tmp_path, broker):
    replay, fw = _start(tmp_path, broker)
    try:
        cookie, csrf = _session(fw)
        status, _, body = _request(fw, "POST", "/settings/reopen", {"csrf": csrf}, cookie=cookie)
        assert status == 200 and json.loads(body)["message"] == "the access point HAN-test is open"
        with open(str(tmp_path / "wifi.control.ap")) as f:
            assert json.load(f) == {"active": True, "essid": "HAN-test", "authmode": 0}
        state = json.loads(_request(fw, "GET", "/setup/state")[2])
        assert state["mode"] == "setup" and state["admin_set"] and "wifi.password" not in state["values"]
        # in setup mode too, a change needs the admin password
        status, _, body = _request(fw, "POST", "/setup/save", {"mqtt.host": "10.6.6.6", "admin.current": "guess"})
        assert status == 403 and json.loads(body)["field"] == "admin.current"
        status, _, body = _request(fw, "POST", "/settings/restart", {"csrf": csrf}, cookie=cookie)
        assert status == 200
        wait_until(lambda: fw.proc.poll() is not None, 20, "the restart")
        assert fw.proc.returncode == 3 and "restarting, as asked on the settings page" in fw.output()
        assert json.load(open(fw.config_path))["mqtt"]["host"] == "127.0.0.1"
    finally:
        fw.kill()
        replay.stop()
