# test_app_update.py Checks updates over the network: only behind the settings login, a good bundle runs on trial and stays (uploaded from Chromium too), a damaged one is refused with nothing switched, an app that crashes or never decodes goes back by itself, and a SIGKILL at any point leaves a firmware that starts and reads.
# The whole firmware on the unix port (firmware/main.py, app slots in its state folder), a real mosquitto, a
# looping Kaifa replay as the meter, and bundles built by tools/bundle.py for the host board (x64 .mpy).
# An update is sent as the settings page sends it: logged in, the session cookie, the CSRF token.

import http.client
import json
import os
import shutil
import socket
import sys
import urllib.parse

import pytest

from form_req import hash_password
from harness import ROOT, Broker, Firmware, Recorder, Replay, wait_until

sys.path.insert(0, os.path.join(ROOT, "tools"))
import bundle  # noqa: E402

KAIFA_REPLAY = os.path.join(ROOT, "tools", "replays", "kaifa.hanlog")
ADMIN = "admin-pass-9"
ADMIN_HASH = hash_password(ADMIN)


@pytest.fixture
def rig(tmp_path, monkeypatch):
    monkeypatch.setenv("HAN_FAIL_PAUSE_S", "0")
    monkeypatch.setenv("HAN_TRIAL_S", "8")
    broker = Broker(tmp_path)
    replay = Replay(KAIFA_REPLAY, speed=5, loop=True)
    flash = tmp_path / "flash"
    flash.mkdir()
    r = Rig(tmp_path, flash, broker, replay)
    yield r
    r.stop()
    replay.stop()
    broker.stop()


class Rig:
    def __init__(self, tmp, flash, broker, replay):
        self.tmp, self.flash, self.broker, self.replay = tmp, flash, broker, replay
        self.fw = None
        self.session = None
        self.config = {"mqtt": {"host": "127.0.0.1", "port": broker.port}, "meter": {"serial": "kaifa"},
                       "admin": {"password_hash": ADMIN_HASH}}

    def start(self):
        # one start of the board; None when the process ended before its page answered (a failed start)
        self.session = None  # a restart ends the login
        try:
            self.fw = Firmware(self.flash, self.config, self.replay.port, grace_s=2, diag_s=2)
        except AssertionError:
            self.fw = None
        return self.fw

    def output(self):
        with open(os.path.join(str(self.flash), "firmware.log")) as f:
            return f.read()

    def stop(self):
        if self.fw:
            self.fw.kill()
            self.fw = None

    def reading(self):
        # the firmware decodes the meter: more messages a moment later
        first = self.fw.status()["decoder"]["decoded"]
        wait_until(lambda: self.fw.status()["decoder"]["decoded"] > first, 30, "messages decoded")
        return self.fw.status()

    def exited(self):
        wait_until(lambda: self.fw.proc.poll() is not None, 30, "the firmware to restart itself")
        code = self.fw.proc.returncode
        self.fw.log.close()
        self.fw = None
        return code

    def request(self, method, path, body=None, headers=None):
        # (status, headers, body text)
        conn = http.client.HTTPConnection("127.0.0.1", self.fw.http_port, timeout=60)
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        answer = r.status, dict(r.getheaders()), r.read().decode()
        conn.close()
        return answer

    def login(self):
        # (session cookie, CSRF token), as the settings page gets them
        if self.session is None:
            status, headers, body = self.request("POST", "/settings/login", "password=" + ADMIN)
            assert status == 200, body
            cookie = headers["Set-Cookie"].split(";")[0]
            state = json.loads(self.request("GET", "/settings/state", headers={"Cookie": cookie})[2])
            self.session = cookie, state["csrf"]
        return self.session

    def update(self, data):
        # the bundle as the body of POST /settings/update, as the settings page sends it -> (status, answer)
        cookie, csrf = self.login()
        status, _, text = self.request("POST", "/settings/update", data, {"Cookie": cookie, "X-CSRF-Token": csrf})
        return status, json.loads(text)

    def fetch(self, url):
        # the settings page's form for POST /settings/fetch -> (status, answer)
        cookie, csrf = self.login()
        body = urllib.parse.urlencode({"url": url, "csrf": csrf})
        status, _, text = self.request("POST", "/settings/fetch", body, {"Cookie": cookie})
        return status, json.loads(text)

    def update_head(self, headers, length):
        # only the headers of an update of `length` bytes, not one byte of its body -> (status, answer)
        s = socket.create_connection(("127.0.0.1", self.fw.http_port), timeout=30)
        head = "".join("%s: %s\r\n" % kv for kv in headers.items())
        s.sendall(("POST /settings/update HTTP/1.0\r\n%sContent-Length: %d\r\n\r\n" % (head, length)).encode())
        answer = b""
        while True:
            more = s.recv(4096)
            if not more:
                break
            answer += more
        s.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(body)

    def raw_update(self, data):
        # the update's request on a socket of its own, left open
        cookie, csrf = self.login()
        s = socket.create_connection(("127.0.0.1", self.fw.http_port))
        s.sendall(b"POST /settings/update HTTP/1.0\r\nCookie: %s\r\nX-CSRF-Token: %s\r\nContent-Length: %d\r\n\r\n" % (
            cookie.encode(), csrf.encode(), len(data)) + data)
        return s

    def pointer(self):
        p = self.flash / "active_app.txt"
        return p.read_text() if p.exists() else None


def make_bundle(tmp, version, change=None):
    # a bundle of lib/ for the host board; change(app_source) -> app_source alters the app first
    lib = os.path.join(ROOT, "lib")
    if change:
        lib = str(tmp / ("lib-" + version))
        shutil.copytree(os.path.join(ROOT, "lib"), lib)
        with open(os.path.join(lib, "app.py")) as f:
            src = f.read()
        with open(os.path.join(lib, "app.py"), "w") as f:
            f.write(change(src))
    out = str(tmp / ("%s.hanb" % version))
    bundle.build("host", out, lib, version)
    with open(out, "rb") as f:
        return f.read()


def update(rig, data):
    status, answer = rig.update(data)
    assert status == 200, answer
    assert rig.exited() == 3  # it restarts by itself into the new app


def test_a_good_bundle_runs_on_trial_proves_itself_and_stays_with_the_old_app_kept(rig):
    data = make_bundle(rig.tmp, "0.2.0")
    rig.start()
    assert rig.reading()["version"] == "0.1.0"
    update(rig, data)
    assert rig.pointer().startswith("app_a lib trial 0")
    rig.start()
    s = rig.reading()
    assert s["version"] == "0.2.0"
    wait_until(lambda: rig.fw.status()["update"]["state"] == "ok", 30, "the trial to end")
    u = rig.fw.status()["update"]
    assert u["app"] == "app_a" and u["previous"] == "lib" and "proved itself" in u["note"]
    assert (rig.flash / "app_a" / "app.mpy").exists() and os.path.exists(os.path.join(ROOT, "lib", "app.py"))
    rig.stop()
    rig.start()  # after a power cut: still the new app, no longer on trial
    assert rig.reading()["version"] == "0.2.0" and rig.fw.status()["update"]["state"] == "ok"
    assert "on trial" not in rig.output().split("han-dongle")[0].split("boot:")[-1]


def test_an_update_without_the_settings_login_is_refused_before_a_byte_of_it_is_read(rig):
    data = make_bundle(rig.tmp, "0.2.0")
    rig.start()
    cookie, csrf = rig.login()
    other = "han_session=" + "0" * 32
    for headers, why in (({}, "not logged in"), ({"Cookie": other, "X-CSRF-Token": csrf}, "not logged in"),
                         ({"Cookie": cookie}, "stale"), ({"Cookie": cookie, "X-CSRF-Token": "0" * 32}, "stale")):
        status, answer = rig.update_head(headers, len(data))  # answered with no byte of the body sent
        assert status == 403 and why in answer["error"], (headers, answer)
    status, _, text = rig.request("POST", "/settings/fetch", urllib.parse.urlencode({"url": "http://127.0.0.1:9/x.hanb"}))
    assert status == 403 and "not logged in" in text
    status, _, _ = rig.request("POST", "/api/update", data[:1000])  # the endpoint before the login: gone
    assert status == 405
    assert rig.pointer() is None and not (rig.flash / "app_a").exists()  # not even the slot was touched
    assert "update: " not in rig.output()  # the updater never ran
    assert rig.reading()["version"] == "0.1.0"
    status, answer = rig.update(data)  # the same bundle, logged in
    assert status == 200 and "version 0.2.0 written to app_a" in answer["message"]


def test_an_update_from_another_site_is_refused_even_with_the_session(rig):
    data = make_bundle(rig.tmp, "0.2.0")
    rig.start()
    cookie, csrf = rig.login()
    evil = "http://evil.example"
    status, answer = rig.update_head({"Cookie": cookie, "X-CSRF-Token": csrf, "Origin": evil}, len(data))
    assert status == 403 and "another site" in answer["error"]
    status, answer = rig.update_head({"Cookie": cookie, "X-CSRF-Token": csrf, "Referer": evil + "/page"}, len(data))
    assert status == 403 and "another site" in answer["error"]
    status, _, text = rig.request("POST", "/settings/fetch", urllib.parse.urlencode({"url": "http://127.0.0.1:9/x.hanb", "csrf": csrf}),
                                  {"Cookie": cookie, "Origin": evil})
    assert status == 403 and "another site" in text
    assert rig.pointer() is None and not (rig.flash / "app_a").exists()
    assert rig.reading()["version"] == "0.1.0"


def test_a_bundle_uploaded_on_the_settings_page_in_chromium_runs_the_new_version(rig):
    from browser import Browser

    make_bundle(rig.tmp, "0.2.0")
    rig.start()
    browser = Browser(rig.tmp)
    try:
        browser.open("http://127.0.0.1:%d/settings" % rig.fw.http_port, "document.getElementById('login').hidden === false")
        assert browser.js("document.getElementById('upd').hidden") is True  # not before the login
        browser.fill({"password": ADMIN})
        browser.js("document.querySelector('#login button').click()")
        browser.wait("document.getElementById('upd').hidden === false")
        browser.choose_file("bundle", str(rig.tmp / "0.2.0.hanb"))
        browser.js("document.getElementById('upload').click()")
        message = browser.wait("document.getElementById('upd-msg').textContent.indexOf('restarting') > 0 && "
                               "document.getElementById('upd-msg').textContent")
        assert message.startswith("update: version 0.2.0 written to app_a") and browser.text("err-update") == ""
    finally:
        browser.close()
    assert rig.exited() == 3
    rig.start()
    s = rig.reading()
    assert s["version"] == "0.2.0" and s["update"]["state"] == "trial"


def test_a_bundle_with_a_bad_checksum_is_refused_and_nothing_is_switched(rig):
    data = bytearray(make_bundle(rig.tmp, "0.2.0"))
    data[-100] ^= 0xFF  # a byte of the last file
    rig.start()
    status, answer = rig.update(bytes(data))
    assert status == 400 and answer["error"].startswith("update refused: wifi.mpy: SHA-256 does not match the manifest")
    assert rig.pointer() is None and os.listdir(str(rig.flash / "app_a")) == []  # what was written is gone again
    s = rig.reading()  # still running, the same app
    assert s["version"] == "0.1.0" and s["update"] is None  # never updated: no pointer, lib/ runs


def test_a_bundle_for_a_newer_micropython_is_refused_before_any_file_is_written(rig):
    import hashlib

    data = make_bundle(rig.tmp, "0.2.0")
    head, _, rest = data.partition(b"\nend ")
    lines = head.split(b"\n")[1:]  # a manifest made as make bundle would, asking for a newer MicroPython
    body = b"\n".join(lines).replace(b"micropython 1.26.0", b"micropython 9.0.0") + b"\n"
    head = b"han-bundle 1 %d\n" % (len(body) + 69) + body
    data = head + b"end " + hashlib.sha256(head).hexdigest().encode() + rest[64:]
    rig.start()
    status, answer = rig.update(data)
    assert status == 400 and "needs MicroPython 9.0.0 or newer" in answer["error"] and "make flash" in answer["error"]
    assert rig.pointer() is None and os.listdir(str(rig.flash / "app_a")) == []
    status, answer = rig.update(b"GET / HTTP/1.0\r\n\r\n")
    assert status == 400 and "not an update bundle" in answer["error"]
    assert rig.reading()["version"] == "0.1.0"


def test_an_app_that_crashes_at_boot_is_rolled_back_by_itself_and_says_so_over_mqtt(rig):
    data = make_bundle(rig.tmp, "0.3.0-crash", lambda src: src.replace(
        "        self.cfg = cfg\n", "        raise RuntimeError('this build cannot start')\n        self.cfg = cfg\n", 1))
    rig.start()
    update(rig, data)
    for n in (1, 2):  # each start on trial crashes, and the board resets (boot_guard)
        assert rig.start() is None
        out = rig.output()
        assert "app_a on trial, start %d of 2" % n in out and "this build cannot start" in out
    rec = Recorder(rig.broker.port, topics=("han/test/diag",))
    rig.start()
    s = rig.reading()
    assert s["version"] == "0.1.0" and s["update"]["app"] == "lib" and s["update"]["previous"] == "app_a"
    assert s["update"]["note"].startswith("rolled back from app_a to lib: it started 2 times")
    assert s["last_error"] == s["update"]["note"]
    wait_until(lambda: any("rolled back from app_a" in (json.loads(p)["last_error"] or "") for p in rec.on("han/test/diag")), 30,
               "diag over MQTT to say so")
    rec.close()


def test_an_app_that_never_decodes_is_rolled_back_by_itself(rig):
    data = make_bundle(rig.tmp, "0.3.0-deaf", lambda src: src.replace(
        "        self.ring.drain(self.chunk, self.framers)\n", "        pass\n", 1))
    rig.start()
    update(rig, data)
    rig.start()
    assert rig.fw.status()["version"] == "0.3.0-deaf"
    assert rig.exited() == 3  # its trial time ran out: back, and a reset
    assert "did not prove itself within 8 s" in rig.output()
    rig.start()
    s = rig.reading()
    assert s["version"] == "0.1.0" and s["update"]["state"] == "ok"
    assert "rolled back from app_a to lib: version 0.3.0-deaf did not prove itself within 8 s" in s["update"]["note"]
    assert "no message decoded" in s["last_error"]


def test_sigkill_at_each_point_of_an_update_leaves_a_firmware_that_starts_and_reads(rig, monkeypatch):
    data = make_bundle(rig.tmp, "0.2.0")
    rig.start()
    # 1. mid-write of the files: half the bundle sent, some files on flash, then the power goes
    s = rig.raw_update(data[: len(data) // 2])
    wait_until(lambda: (rig.flash / "app_a").exists() and len(os.listdir(str(rig.flash / "app_a"))) > 5, 30, "files being written")
    rig.stop()
    s.close()
    rig.start()
    assert rig.reading()["version"] == "0.1.0" and rig.pointer() is None
    # 2. every file written and checked, the new pointer written but not renamed yet
    rig.stop()
    monkeypatch.setenv("HAN_SLOT_PAUSE", "1")
    rig.start()
    s = rig.raw_update(data)
    wait_until(lambda: "paused before the rename" in rig.output(), 30, "the switch to pause")
    rig.stop()
    s.close()
    monkeypatch.delenv("HAN_SLOT_PAUSE")
    assert rig.pointer() is None and (rig.flash / "active_app.tmp").exists()
    rig.start()  # the temp pointer was whole: the switch is completed at boot
    assert rig.reading()["version"] == "0.2.0" and rig.fw.status()["update"]["state"] == "trial"
    # 3. during the trial: the cut counts as a start on trial; the next start proves itself
    rig.stop()
    rig.start()
    assert "app_a on trial, start 2 of 2" in rig.output()
    assert rig.reading()["version"] == "0.2.0"
    wait_until(lambda: rig.fw.status()["update"]["state"] == "ok", 30, "the trial to end")
    # 4. a temp pointer cut halfway through its write: removed, the pointer as it was
    rig.stop()
    (rig.flash / "active_app.tmp").write_text("lib app_a tri")
    rig.start()
    assert rig.reading()["version"] == "0.2.0" and not (rig.flash / "active_app.tmp").exists()
    # 5. the next update goes to the other slot, the one running is kept; cut after the answer, before the restart
    status, answer = rig.update(make_bundle(rig.tmp, "0.4.0"))
    assert status == 200 and "app_b" in answer["message"]
    rig.stop()
    rig.start()
    assert rig.reading()["version"] == "0.4.0"
    assert rig.fw.status()["update"]["previous"] == "app_a"


def test_a_bundle_fetched_from_a_url_runs_and_a_missing_one_is_refused(rig):
    import functools
    import http.server
    import threading

    data = make_bundle(rig.tmp, "0.2.1")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(rig.tmp))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = "http://127.0.0.1:%d/" % server.server_address[1]
        rig.start()
        status, answer = rig.fetch(base + "missing.hanb")
        assert status == 400 and "the server answered '404" in answer["error"] and rig.pointer() is None
        status, answer = rig.fetch(base + "0.2.1.hanb")
        assert status == 200 and "version 0.2.1 written to app_a" in answer["message"], answer
        assert rig.exited() == 3
        rig.start()
        assert rig.reading()["version"] == "0.2.1" and len(data) > 10000
    finally:
        server.shutdown()


def test_an_app_that_cannot_even_be_imported_is_rolled_back_at_once(rig):
    def unloadable(tmp):
        lib = str(tmp / "lib-unloadable")
        shutil.copytree(os.path.join(ROOT, "lib"), lib)
        with open(os.path.join(lib, "boot_guard.py"), "a") as f:
            f.write("\nraise ImportError('this build has no boot_guard')\n")
        out = str(tmp / "unloadable.hanb")
        bundle.build("host", out, lib, "0.3.0-broken")
        with open(out, "rb") as f:
            return f.read()

    rig.start()
    update(rig, unloadable(rig.tmp))
    assert rig.start() is None  # main.py cannot import the app: back at once, and a reset
    assert "rolled back from app_a to lib: it cannot be loaded" in rig.output()
    rig.start()
    s = rig.reading()
    assert s["version"] == "0.1.0" and "this build has no boot_guard" in s["update"]["note"]
