# test_form_req.py Checks the settings request code on its own: form decoding, the password hash, and that its modules are dropped after each request.
# Shared: runs under pytest and under the MicroPython unix port (mpy_runner.py).

import json
import os
import sys

_DIR = "/tmp/han-test-form-req"


class App:
    # what lib/form_req.py and lib/setup_form.py use of the App
    def __init__(self):
        try:
            os.mkdir(_DIR)
        except OSError:
            pass
        self.paths = (_DIR + "/config.json", (__file__.rsplit("/", 1)[0] if "/" in __file__ else ".") + "/../boards", _DIR)
        self.device_id = "test"
        self.cfg = {"wifi.ssid": "home", "wifi.password": "wifi-secret-1", "mqtt.host": "h", "mqtt.port": 1883,
                    "mqtt.user": None, "mqtt.password": "mqtt-secret-2", "mqtt.tls": False, "mqtt.ca_file": None,
                    "meter.serial": "auto", "board": "host"}
        self.errors = []
        self.log = lambda text: None


def _request(app, text):
    reader = __import__("form_req").reader(app, text.split("\r\n", 1)[0].encode())
    sys.modules.pop("form_req", None)
    body = text.encode()
    return reader.feed(body, body.index(b"\n") + 1, len(body))


def test_a_request_is_answered_and_leaves_no_module_of_the_form_behind():
    sys.modules.pop("config", None)  # another test in this process (test_deploy) may have imported it
    app = App()
    answer = _request(app, "GET /settings/state HTTP/1.0\r\nHost: x\r\n\r\n")
    assert answer[0] == 200 and json.loads(answer[2]) == {"mode": "settings", "device_id": "test", "admin_set": False,
                                                         "authed": False}
    assert "form_req" not in sys.modules and "setup_form" not in sys.modules and "config" not in sys.modules
    answer = _request(app, "POST /settings/login HTTP/1.0\r\nContent-Length: 14\r\n\r\npassword=guess")
    assert answer[0] == 403 and b"no admin password" in answer[2]
    assert "form_req" not in sys.modules and "setup_form" not in sys.modules


def test_a_body_may_come_in_pieces_and_a_large_one_is_refused():
    app = App()
    reader = __import__("form_req").reader(app, b"POST /settings/login HTTP/1.0")
    sys.modules.pop("form_req", None)
    head = b"Content-Length: 14\r\nOrigin: http://evil\r\nHost: x\r\n\r\npass"
    assert reader.feed(head, 0, len(head)) is None
    assert reader.feed(b"word=guess", 0, 10)[0] == 403  # from another site: refused before the password is looked at
    reader = __import__("form_req").reader(app, b"POST /settings/save HTTP/1.0")
    sys.modules.pop("form_req", None)
    head = b"Content-Length: 99999\r\n\r\n"
    assert reader.feed(head, 0, len(head))[0] == 413


class UnreadSocket:
    # the socket of an update that must be refused: reading its body is a failure
    def readinto(self, *args):
        raise AssertionError("the body of a refused update was read")

    settimeout = setblocking = readinto


def test_an_update_without_the_session_token_or_from_another_site_is_refused_before_its_body_is_read():
    import time

    for name in ("form_req", "app_update", "updater"):  # imported by an earlier test (test_lib_imports imports every module)
        sys.modules.pop(name, None)
    app = App()
    app.auth = [0, 0, "a" * 32, "b" * 32, time.ticks_ms()]  # a login's session and CSRF token
    session = "Cookie: han_session=%s\r\n" % ("a" * 32)
    for head, why in (("", b"not logged in"), ("Cookie: han_session=x\r\nX-CSRF-Token: %s\r\n" % ("b" * 32), b"not logged in"),
                      (session, b"stale"), (session + "X-CSRF-Token: x\r\n", b"stale"),
                      (session + "X-CSRF-Token: %s\r\nOrigin: http://evil\r\nHost: x\r\n" % ("b" * 32), b"another site")):
        reader = __import__("form_req").reader(app, b"POST /settings/update HTTP/1.0", UnreadSocket())
        sys.modules.pop("form_req", None)
        request = (head + "Content-Length: 99999\r\n\r\nhan-bundle 1 300\n").encode()
        answer = reader.feed(request, 0, len(request))
        assert answer[0] == 403 and why in answer[2], (head, answer)
        assert "form_req" not in sys.modules and "app_update" not in sys.modules and "updater" not in sys.modules


def test_form_fields_are_decoded_and_a_password_hash_verifies_only_its_password():
    import form_req

    assert form_req.parse(b"a=1&wifi.ssid=my+net%21&p=%C3%A6%zz&empty=") == {"a": "1", "wifi.ssid": "my net!", "p": "\u00e6%zz",
                                                                             "empty": ""}
    stored = form_req.hash_password("admin-pass-9")
    rounds, salt, digest = stored.split("$")
    assert rounds == "1000" and len(salt) == 16 and len(digest) == 64
    assert form_req.verify("admin-pass-9", stored) and not form_req.verify("admin-pass-8", stored)
    assert form_req.hash_password("admin-pass-9") != stored  # a new salt each time
    assert not form_req.verify("", None) and not form_req.verify("x", "garbage")
    sys.modules.pop("form_req", None)
