# ha.py Provides HomeAssistant: a real Home Assistant core (build/ha-venv, `make ha-deps`) for the tests,
# onboarded and with MQTT set up as a user does it, and what it shows: states, registries, statistics, its log.
#
# It talks to Home Assistant only as the frontend does: the REST API and the websocket API (a small
# client here, one connection per command, so a restart in between costs nothing).

import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import urllib.error
import urllib.parse
import urllib.request

from harness import free_port, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, os.environ.get("HA_VENV") or os.path.join("build", "ha-venv"))  # make ha-deps
HASS = os.path.join(VENV, "bin", "hass")
CONFIG = os.path.join(ROOT, "host_tests", "ha_configuration.yaml")
# a log entry of ours: its level is WARNING or worse and it names MQTT, our entities or our origin
_ENTRY = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ (\w+) ", re.M)
_OURS = re.compile(r"mqtt|\bhan_|han-dongle|han/test", re.I)
_BAD = ("WARNING", "ERROR", "CRITICAL")


def unavailable_reason():
    # None when build/ha-venv holds an installed Home Assistant, else why the tests skip
    if os.path.exists(os.path.join(VENV, ".installed")):
        return None
    try:
        with open(VENV + ".skip") as f:
            return f.read().strip()
    except OSError:
        return "no Home Assistant in build/ha-venv: `make ha-deps` installs it (it needs a Python >= 3.13)"


class WebSocket:
    # RFC 6455 client, text frames only: enough for Home Assistant's websocket API
    def __init__(self, port, path):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, port, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            assert chunk, "websocket handshake: connection closed"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), "websocket handshake refused: %r" % head[:200]

    def _read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            assert chunk, "websocket closed by Home Assistant"
            data += chunk
        return data

    def send(self, message):
        data = json.dumps(message).encode()
        mask = os.urandom(4)
        n = len(data)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536
                                else bytes([0x80 | 127]) + struct.pack(">Q", n))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def receive(self):
        text = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(n)  # a server's frames are not masked
            opcode = b0 & 0x0F
            if opcode == 8:
                raise AssertionError("websocket closed by Home Assistant: %r" % payload)
            if opcode in (0, 1):
                text += payload
                if b0 & 0x80:
                    return json.loads(text)

    def close(self):
        self.sock.close()


class HomeAssistant:
    # `hass -c <tmp> --skip-pip` on a port of its own: start(), then onboard() (owner user, long-lived token)
    def __init__(self, tmp):
        self.dir = str(tmp)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        shutil.copy(CONFIG, os.path.join(self.dir, "configuration.yaml"))
        self.token = None
        self.proc = None
        self.earlier_logs = ""  # the log of the runs before a restart (hass rotates it at start)

    # --- the process ---
    def start(self):
        self.out = open(os.path.join(self.dir, "hass.out"), "a")
        env = dict(os.environ, HAN_HA_PORT=str(self.port))
        self.proc = subprocess.Popen([HASS, "-c", self.dir, "--skip-pip"], env=env, stdout=self.out, stderr=subprocess.STDOUT)
        wait_until(lambda: self.proc.poll() is not None or self._running(), 180, "Home Assistant to start")
        assert self.proc.poll() is None, "Home Assistant exited:\n" + self.log()[-3000:]

    def _running(self):
        # the HTTP server answers, and once onboarded, the core has finished starting
        try:
            if self.token is None:
                return self._request("GET", "/api/onboarding", auth=False) is not None
            return self.rest("GET", "/api/config")["state"] == "RUNNING"
        except (OSError, AssertionError, ValueError):
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc:
            self.out.close()
        self.earlier_logs = self.log()

    def restart(self):
        self.stop()
        self.start()

    # --- HTTP ---
    def _request(self, method, path, body=None, auth=True, form=False):
        headers = {}
        if auth:
            headers["Authorization"] = "Bearer " + self.token
        if form:
            data = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = None if body is None else json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=60) as r:
            text = r.read()
        return json.loads(text) if text else None

    def rest(self, method, path, body=None):
        try:
            return self._request(method, path, body)
        except urllib.error.HTTPError as e:
            raise AssertionError("%s %s: %s %s" % (method, path, e.code, e.read()[:500]))

    def ws(self, kind, **fields):
        # one websocket command, its result (a failed command raises with Home Assistant's message)
        conn = WebSocket(self.port, "/api/websocket")
        try:
            assert conn.receive()["type"] == "auth_required"
            conn.send({"type": "auth", "access_token": self.token})
            answer = conn.receive()
            assert answer["type"] == "auth_ok", answer
            conn.send(dict(fields, id=1, type=kind))
            while True:
                answer = conn.receive()
                if answer.get("id") == 1 and answer["type"] == "result":
                    assert answer["success"], "%s: %s" % (kind, answer.get("error"))
                    return answer["result"]
        finally:
            conn.close()

    def onboard(self):
        # as the onboarding page does: the owner user, its code for tokens, then a long-lived token
        client = self.url + "/"
        user = self._request("POST", "/api/onboarding/users", {"client_id": client, "name": "Owner", "username": "owner",
                                                               "password": "han-test-owner", "language": "en"}, auth=False)
        tokens = self._request("POST", "/auth/token", {"grant_type": "authorization_code", "code": user["auth_code"],
                                                       "client_id": client}, auth=False, form=True)
        self.token = tokens["access_token"]
        self.token = self.ws("auth/long_lived_access_token", client_name="han tests", lifespan=30)
        wait_until(self._running, 120, "Home Assistant to finish starting")

    def setup_mqtt(self, broker_port):
        # Settings > Devices & services > Add integration > MQTT: the broker's address and port
        flow = self.rest("POST", "/api/config/config_entries/flow", {"handler": "mqtt", "show_advanced_options": False})
        assert flow["type"] == "form" and flow["step_id"] == "broker", flow
        done = self.rest("POST", "/api/config/config_entries/flow/" + flow["flow_id"], {"broker": "127.0.0.1", "port": broker_port})
        assert done["type"] == "create_entry", done
        return done["result"]

    # --- what it shows ---
    def states(self):
        return {s["entity_id"]: s for s in self.rest("GET", "/api/states")}

    def entities(self):
        # the entity registry, by unique_id, for MQTT's entities
        return {e["unique_id"]: e for e in self.ws("config/entity_registry/list") if e["platform"] == "mqtt"}

    def devices(self):
        return self.ws("config/device_registry/list")

    def statistic_ids(self):
        return {s["statistic_id"]: s for s in self.ws("recorder/list_statistic_ids", statistic_type="sum")}

    def log(self):
        try:
            with open(os.path.join(self.dir, "home-assistant.log"), errors="replace") as f:
                return self.earlier_logs + f.read()
        except OSError:
            return self.earlier_logs

    def problems(self, since=0):
        return problems(self.log()[since:])


def problems(text):
    # the log entries (with their tracebacks) of level WARNING or worse about MQTT or our entities;
    # everything else Home Assistant logs is not this firmware's business
    starts = [m.start() for m in _ENTRY.finditer(text)] + [len(text)]
    entries = [text[a:b] for a, b in zip(starts, starts[1:])]
    return [e.strip() for e in entries if _ENTRY.match(e).group(1) in _BAD and _OURS.search(e)]
