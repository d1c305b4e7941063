# sim.py Provides `make sim`: the real firmware on the MicroPython unix port, a replayed meter, a local broker.
# MIT license
#
# Settings come from the environment (make passes them through):
#   METER=aidon|kaifa|kamstrup   which shipped replay plays (default aidon)
#   CAPTURE=file                 any capture instead (hanlog or raw bytes, see docs/capture-format.md)
#   SPEED=N                      replay N times faster than the meter (default 1)
#   MQTT_HOST, MQTT_PORT         a running broker to use; without them mosquitto is started here
#   HTTP_PORT                    status page port (default 8080)
#   UART_PORT                    TCP port the replay serves the meter's bytes on (default 7700)
# Ctrl-C stops everything this started.

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIM_DIR = os.path.join(ROOT, "build", "sim")
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
METERS = ("aidon", "kaifa", "kamstrup")


def answers(host, port):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def mosquitto_binary():
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if not found:
        sys.exit("sim: mosquitto is not installed (make system-deps installs it, or set MQTT_HOST/MQTT_PORT)")
    return found


def start_broker(port, log):
    conf = os.path.join(SIM_DIR, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n" % port)
    proc = subprocess.Popen([mosquitto_binary(), "-c", conf], stdout=log, stderr=subprocess.STDOUT)
    for _ in range(50):
        if answers("127.0.0.1", port):
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    sys.exit("sim: mosquitto did not start on port %d (see build/sim/mosquitto.log)" % port)


def write_config(meter, mqtt_host, mqtt_port, http_port):
    cfg = {
        "board": "host",
        "meter": {"serial": meter if meter in METERS else "auto"},
        "mqtt": {"host": mqtt_host, "port": mqtt_port},
        "http": {"port": http_port},
    }
    with open(os.path.join(SIM_DIR, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def main():
    env = os.environ
    meter = env.get("METER", "aidon")
    if meter not in METERS and not env.get("CAPTURE"):
        sys.exit("sim: METER must be one of %s (or give CAPTURE=file)" % ", ".join(METERS))
    capture = env.get("CAPTURE") or os.path.join(ROOT, "tools", "replays", meter + ".hanlog")
    if not os.path.exists(capture):
        sys.exit("sim: capture %s not found" % capture)
    speed = env.get("SPEED", "1")
    http_port = int(env.get("HTTP_PORT", "8080"))
    uart_port = int(env.get("UART_PORT", "7700"))
    mqtt_host = env.get("MQTT_HOST", "127.0.0.1")
    mqtt_port = int(env.get("MQTT_PORT", "1883"))
    os.makedirs(SIM_DIR, exist_ok=True)
    children = []
    broker_log = open(os.path.join(SIM_DIR, "mosquitto.log"), "w")
    if answers(mqtt_host, mqtt_port):
        broker = "%s:%d (already running)" % (mqtt_host, mqtt_port)
    elif mqtt_host in ("127.0.0.1", "localhost"):
        children.append(start_broker(mqtt_port, broker_log))
        broker = "%s:%d (mosquitto started by make sim)" % (mqtt_host, mqtt_port)
    else:
        sys.exit("sim: no broker answers at %s:%d" % (mqtt_host, mqtt_port))
    write_config(meter if not env.get("CAPTURE") else "auto", mqtt_host, mqtt_port, http_port)

    children.append(subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "replay.py"), "--tcp",
                                      "127.0.0.1:%d" % uart_port, "--speed", speed, "--loop", capture]))
    fw_env = dict(env, MICROPYPATH=".frozen:" + os.path.join(ROOT, "lib"),
                  HAN_CONFIG="config.json", HAN_BOARDS=os.path.join(ROOT, "boards"), HAN_UART="127.0.0.1:%d" % uart_port,
                  HAN_DEVICE_ID=env.get("HAN_DEVICE_ID", "sim"))
    firmware = subprocess.Popen([MICROPYTHON, os.path.join(ROOT, "firmware", "main.py")], cwd=SIM_DIR, env=fw_env)
    children.append(firmware)

    print("sim: firmware/main.py on the MicroPython unix port, board 'host', meter replay %s at %sx" % (os.path.relpath(capture, ROOT), speed))
    print("sim: MQTT broker %s; watch it with:" % broker)
    print("       mosquitto_sub -h %s -p %d -t 'han/#' -t 'homeassistant/#' -v" % (mqtt_host, mqtt_port))
    print("sim: topics han/sim/{status,power,energy,meter,diag}; Home Assistant discovery under homeassistant/")
    print("sim: status page http://localhost:%d/  (JSON: http://localhost:%d/api/status)" % (http_port, http_port))
    print("sim: Ctrl-C stops it all")

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl-C
    try:
        code = firmware.wait()
        print("sim: the firmware exited with status %d" % code)
    except KeyboardInterrupt:
        print()
    finally:
        for p in reversed(children):
            if p.poll() is None:
                p.terminate()
        for p in children:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


main()
