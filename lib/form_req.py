# form_req.py Provides reader(): the HTTP side of /setup and /settings: headers, body, admin login, sessions and cross-site checks, and the gate of app updates.
# MIT license
#
# Imported by the App for one request and dropped (lib/web.py hands it the request once the request
# line names a path under /s); the form itself is lib/setup_form.py. State that must outlive a request
# (the session, the failed logins) is a small list on the App, app.auth.
#
# Guarding /settings (docs/setup.md):
# - the admin password is stored salted and hashed (sha256, iterated), never sent back;
# - a login gives a session cookie (HttpOnly, SameSite=Strict) and a CSRF token the page sends with
#   every change; a change is refused without both, and when its Origin (or Referer) is another site;
# - a wrong password makes the next try wait 1, 2, 4 ... 300 s: a try before then is answered 429 at
#   once, without looking at the password. Nothing here sleeps: the loop goes on reading the UART.
# An app update (POST /settings/update, the bundle as the body) passes the same checks, its CSRF token in
# the header X-CSRF-Token, as soon as the headers are in: refused, not one byte of the body is read; let
# through, the body streams from the socket to flash (lib/app_update.py), never into a buffer here.

import binascii
import hashlib
import json
import os
import sys
import time
from micropython import const

_BODY_MAX = const(1536)  # a form is a few hundred bytes
_HEADER = const(160)  # of a header line kept while it is read
_ROUNDS = const(1000)  # sha256 rounds of a password hash: ~30 ms on an ESP32, per guess
_WAIT_MAX_S = const(300)
_SESSION_S = const(1800)  # a login lasts 30 minutes
_PAGE = __file__.rsplit("/", 1)[0] + "/setup_page.html" if "/" in __file__ else "setup_page.html"
_JSON = "application/json"
_CROSS_SITE = 403, _JSON, b'{"error": "refused: the request came from another site"}', ""

# app.auth: [failed logins in a row, ticks before which no login is tried, session token, CSRF token, session ticks]
_FAILS = const(0)
_NOT_BEFORE = const(1)
_SESSION = const(2)
_CSRF = const(3)
_SINCE = const(4)


def reader(app, line, sock=None):
    # sock: the request's, for an update's body
    words = line.split()
    if len(words) != 3 or not (words[1].startswith(b"/setup") or words[1].startswith(b"/settings")):
        return None
    return Reader(app, words[0], words[1].split(b"?", 1)[0].decode(), sock)


class Reader:
    def __init__(self, app, method, path, sock):
        self.app = app
        self.sock = sock
        self.method = method
        self.path = path
        self.head = bytearray()  # the header line being read
        self.headers = {}  # only those used below
        self.body = None  # bytearray once the headers are over
        self.want = 0

    def feed(self, buf, i, n):
        # bytes buf[i:n] of the request: None until it is whole, then the answer
        while i < n:
            if self.body is not None:
                take = min(n - i, self.want - len(self.body))
                self.body.extend(memoryview(buf)[i : i + take])
                i += take
                break
            b = buf[i]
            i += 1
            if b == 10:
                if not self.head:
                    if self.method == b"POST" and self.path == "/settings/update":
                        return self._update(memoryview(buf)[i:n])
                    r = self._headers_done()
                    if r or not self.want:
                        return r
                    continue
                self._header(bytes(self.head))
                self.head = bytearray()
            elif b != 13:
                if len(self.head) >= _HEADER:
                    if bytes(self.head[:6]).lower() != b"cookie":
                        continue  # a long header we do not use: skipped
                    return 400, "text/plain", b"header too long\n", ""
                self.head.append(b)
        if self.body is not None and len(self.body) >= self.want:
            return self._answer()
        return None

    def _header(self, h):
        name, _, value = h.partition(b":")
        name = name.strip().lower()
        if name in (b"cookie", b"origin", b"referer", b"host", b"content-length", b"x-csrf-token"):
            self.headers[name.decode()] = value.strip().decode()

    def _headers_done(self):
        try:
            self.want = int(self.headers.get("content-length", "0"))
        except ValueError:
            return 400, "text/plain", b"bad Content-Length\n", ""
        if self.want > _BODY_MAX:
            return 413, "text/plain", b"form too large\n", ""
        self.body = bytearray()
        return self._answer() if not self.want else None

    def _answer(self):
        try:
            return self._route()
        except Exception as e:  # MemoryError above all: answer, keep serving
            return 500, "text/plain", ("error: %s\n" % e).encode(), ""
        finally:  # the request is answered: the form's code goes (this module's goes with the reader)
            sys.modules.pop("setup_form", None)
            sys.modules.pop("form_req", None)

    def _route(self):
        app, path, post = self.app, self.path, self.method == b"POST"
        setup = getattr(app, "setup", None) is not None and path.startswith("/setup")
        if path in ("/setup", "/settings") and not post:
            if path == "/setup" and not setup:
                return 303, "text/plain", b"see /settings\n", "Location: /settings\r\n"
            return 200, "text/html; charset=utf-8", _PAGE, ""
        if path.startswith("/setup") and not setup:
            return 404, "text/plain", b"setup is not open (see /settings)\n", ""
        if not post:
            if path[-6:] != "/state":
                return 404, "text/plain", b"not found\n", ""
            import setup_form

            return 200, _JSON, json.dumps(setup_form.state(app, setup, self._session_ok())).encode(), ""
        if not self._same_site():
            return _CROSS_SITE
        fields = parse(bytes(self.body))
        if path == "/settings/login":
            return self._login(fields.get("password", ""))
        if not setup:
            refused = self._refused(fields.get("csrf", ""))
            if refused:
                return refused
        import setup_form

        if setup and path == "/setup/save" and setup_form.admin_hash(app):
            # a dongle that has an admin password asks for it in setup mode too
            refused = self._check_password(fields.get("admin.current", ""), "admin.current")
            if refused:
                return refused
        status, answer = setup_form.action(app, path.rsplit("/", 1)[1], fields, setup)
        return status, _JSON, json.dumps(answer).encode(), ""

    def _refused(self, csrf):
        # None when the request carries this login's session cookie and CSRF token; else the answer
        if not self._session_ok():
            return 403, _JSON, b'{"error": "not logged in (or the session ended): log in again"}', ""
        if not _same(csrf, self.app.auth[_CSRF]):
            return 403, _JSON, b'{"error": "refused: the form is stale (reload the page)"}', ""
        return None

    def _update(self, first):
        # POST /settings/update, right after its headers: first is what came of the body with them
        try:
            refused = _CROSS_SITE if not self._same_site() else self._refused(self.headers.get("x-csrf-token"))
            if refused:
                return refused  # before a byte more of the body is read: nothing is written
            import app_update

            status, answer = app_update.receive(self.app, self.sock, bytes(first))
            return status, _JSON, json.dumps(answer).encode(), ""
        except Exception as e:  # MemoryError above all: answer, keep serving
            return 500, "text/plain", ("error: %s\n" % e).encode(), ""
        finally:
            sys.modules.pop("app_update", None)
            sys.modules.pop("form_req", None)

    def _same_site(self):
        # a change must come from a page of this dongle: Origin (every browser sends it with a POST from
        # fetch) or else Referer must name the host the request was sent to
        host = self.headers.get("host")
        origin = self.headers.get("origin") or self.headers.get("referer")
        if origin is None:
            return True  # not from a browser page (curl): the session and CSRF token still apply
        return host is not None and (origin == "http://" + host or origin.startswith("http://" + host + "/"))

    def _session_ok(self):
        auth = getattr(self.app, "auth", None)
        if not auth or not auth[_SESSION]:
            return False
        if time.ticks_diff(time.ticks_ms(), auth[_SINCE]) > _SESSION_S * 1000:
            auth[_SESSION] = None
            return False
        for part in self.headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "han_session" and _same(value, auth[_SESSION]):
                return True
        return False

    def _check_password(self, password, field):
        # None when right; else the answer: 429 while the last failure's wait runs, 403 when wrong
        auth = _auth(self.app)
        now = time.ticks_ms()
        wait = time.ticks_diff(auth[_NOT_BEFORE], now)
        if auth[_FAILS] and wait > 0:
            s = (wait + 999) // 1000
            return 429, _JSON, json.dumps({"error": "too many wrong passwords: wait %d s" % s, "field": field,
                                            "wait_s": s}).encode(), "Retry-After: %d\r\n" % s
        import setup_form

        if verify(password, setup_form.admin_hash(self.app)):
            auth[_FAILS] = 0
            return None
        auth[_FAILS] += 1
        s = min(1 << (auth[_FAILS] - 1), _WAIT_MAX_S)
        auth[_NOT_BEFORE] = time.ticks_add(now, s * 1000)
        self.app.log("settings: wrong admin password (%d in a row; next try in %d s)" % (auth[_FAILS], s))
        return 403, _JSON, json.dumps({"error": "wrong password (next try in %d s)" % s, "field": field, "wait_s": s}).encode(), ""

    def _login(self, password):
        import setup_form

        if not setup_form.admin_hash(self.app):
            return 403, _JSON, b'{"error": "no admin password is set: open the setup access point to choose one"}', ""
        refused = self._check_password(password, "password")
        if refused:
            return refused
        auth = self.app.auth
        auth[_SESSION], auth[_CSRF], auth[_SINCE] = token(), token(), time.ticks_ms()
        return 200, _JSON, b'{"ok": true}', "Set-Cookie: han_session=%s; HttpOnly; SameSite=Strict; Path=/\r\n" % auth[_SESSION]


def _auth(app):
    if getattr(app, "auth", None) is None:
        app.auth = [0, 0, None, None, 0]
    return app.auth


def csrf(app):
    return _auth(app)[_CSRF]


def token():
    return binascii.hexlify(_random(16)).decode()


def _random(n):
    # the ESP32's os.urandom is its hardware RNG; the WebAssembly port (the 32-bit tests) has none
    if hasattr(os, "urandom"):
        return os.urandom(n)
    import random

    return bytes(random.getrandbits(8) for _ in range(n))


def hash_password(password, salt=None):
    # "rounds$salt$hash", hex; sha256 iterated so that each guess costs what it costs the dongle
    salt = salt or binascii.hexlify(_random(8)).decode()
    pw = password.encode()
    h = hashlib.sha256(salt.encode() + pw).digest()
    for _ in range(_ROUNDS - 1):
        h = hashlib.sha256(h + pw).digest()
    return "%d$%s$%s" % (_ROUNDS, salt, binascii.hexlify(h).decode())


def verify(password, stored):
    if not stored or stored.count("$") != 2:
        return False
    salt = stored.split("$")[1]
    return _same(hash_password(password, salt), stored)


def _same(a, b):
    # compared in full whatever differs first, so the time taken tells nothing
    if not a or not b or len(a) != len(b):
        return False
    d = 0
    for x, y in zip(a, b):
        d |= ord(x) ^ ord(y)
    return d == 0


def parse(body):
    # application/x-www-form-urlencoded -> {name: text}
    fields = {}
    for part in body.split(b"&"):
        if part:
            name, _, value = part.partition(b"=")
            fields[_unquote(name)] = _unquote(value)
    return fields


def _unquote(b):
    b = b.replace(b"+", b" ")
    out = bytearray()
    i = 0
    while i < len(b):
        if b[i] == 37 and i + 3 <= len(b):  # "%XX"
            try:
                out.append(int(b[i + 1 : i + 3], 16))
                i += 3
                continue
            except ValueError:
                pass
        out.append(b[i])
        i += 1
    try:
        return str(out, "utf-8")
    except UnicodeError:
        return ""
