# sim.py Provides `make sim`: the real firmware on the MicroPython unix port, a virtual (or replayed) meter, a local broker.
# MIT license
#
# Settings come from the environment (make passes them through):
#   METER=aidon|kaifa|kamstrup|landisgyr   the virtual meter's maker (default aidon; tools/virtual_meter.py)
#   START=2026-03-29T00:00       its clock at the start, Norwegian time (default now)
#   SOLAR=1                      solar panels: export around noon on sunny days
#   SEED=N                       another meter id and other days (default 1)
#   SPEED=N                      run N times faster than real time (default 1)
#   CAPTURE=file                 replay a capture instead (hanlog or raw bytes, see docs/capture-format.md)
#   MQTT_HOST, MQTT_PORT         a running broker to use; without one, mosquitto is started here (1883)
#   HTTP_PORT                    status page port (default 8080)
#   UART_PORT                    TCP port the meter's bytes are served on (default: a free one)
#   SIM_DIR                      the firmware's files: config, state, mosquitto's (default build/sim/http-<HTTP_PORT>,
#                                so sims side by side keep apart, and a sim run again finds its state)
#   SETUP=1                      first boot: no config.json, the stand-in Wi-Fi (host_tests/mpy_wifi) with an access point
#                                and networks in range; the setup page is the status page's address (docs/setup.md)
# Ports that are taken stop it with a message before anything starts. Ctrl-C stops everything it started.

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
METERS = ("aidon", "kaifa", "kamstrup", "landisgyr")


def fail(message):
    sys.stderr.write("sim: %s\n" % message)
    sys.exit(2)


def answers(host, port):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def is_mqtt_broker(host, port):
    # an MQTT 3.1.1 CONNECT; a broker answers CONNACK (0x20), even one that then refuses the client
    connect = b"\x10\x15\x00\x04MQTT\x04\x02\x00\x0a\x00\x09sim-probe"
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            s.sendall(connect)
            reply = s.recv(4)
            if reply[:1] == b"\x20":
                s.sendall(b"\xe0\x00")  # DISCONNECT
                return True
    except OSError:
        pass
    return False


def port_free(port):
    # can a server listen on port (all interfaces, as the firmware's page and the meter do)?
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as they do: TIME_WAIT is no obstacle
        s.bind(("0.0.0.0", port))
        s.listen(1)
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def number(env, name, default):
    text = env.get(name, default)
    try:
        value = int(text)
    except ValueError:
        fail("%s=%s is not a port number" % (name, text))
    if not 0 < value < 65536:
        fail("%s=%s is not a port number (1-65535)" % (name, text))
    return value


def check_ports(env):
    # (http_port, uart_port, mqtt_host, mqtt_port, start_broker); stops with a message when one is taken
    http_port = number(env, "HTTP_PORT", "8080")
    if not port_free(http_port):
        fail("HTTP_PORT %d is taken by another program (another make sim?); pick a free one: make sim HTTP_PORT=%d"
             % (http_port, free_port()))
    if env.get("UART_PORT"):
        uart_port = number(env, "UART_PORT", "")
        if not port_free(uart_port):
            fail("UART_PORT %d is taken by another program; leave UART_PORT unset and a free port is picked" % uart_port)
        if uart_port == http_port:
            fail("UART_PORT and HTTP_PORT are both %d" % uart_port)
    else:
        uart_port = free_port()
    mqtt_host = env.get("MQTT_HOST", "127.0.0.1")
    mqtt_port = number(env, "MQTT_PORT", "1883")
    local = mqtt_host in ("127.0.0.1", "localhost")
    if local and mqtt_port in (http_port, uart_port):
        fail("MQTT_PORT %d is also the %s port" % (mqtt_port, "HTTP" if mqtt_port == http_port else "UART"))
    if answers(mqtt_host, mqtt_port):
        if not is_mqtt_broker(mqtt_host, mqtt_port):
            fail("something answers at %s:%d, but it is not an MQTT broker; give MQTT_PORT (and MQTT_HOST) of a broker,"
                 " or a free MQTT_PORT for the broker make sim starts" % (mqtt_host, mqtt_port))
        return http_port, uart_port, mqtt_host, mqtt_port, False
    if not local:
        fail("no broker answers at %s:%d" % (mqtt_host, mqtt_port))
    if not port_free(mqtt_port):
        fail("MQTT_PORT %d is taken by a program that does not answer; pick another: make sim MQTT_PORT=%d"
             % (mqtt_port, free_port()))
    return http_port, uart_port, mqtt_host, mqtt_port, True


def mosquitto_binary():
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if not found:
        fail("mosquitto is not installed (make system-deps installs it, or set MQTT_HOST/MQTT_PORT)")
    return found


def start_broker(sim_dir, port, log):
    conf = os.path.join(sim_dir, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n" % port)
    proc = subprocess.Popen([mosquitto_binary(), "-c", conf], stdout=log, stderr=subprocess.STDOUT)
    for _ in range(50):
        if answers("127.0.0.1", port):
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    fail("mosquitto did not start on port %d (see %s)" % (port, log.name))


def write_config(sim_dir, serial, mqtt_host, mqtt_port, http_port):
    cfg = {
        "board": "host",
        "meter": {"serial": serial},
        "mqtt": {"host": mqtt_host, "port": mqtt_port},
        "http": {"port": http_port},
    }
    with open(os.path.join(sim_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def write_setup(sim_dir):
    # SETUP=1: a dongle before its setup (no config.json), and the networks the stand-in Wi-Fi sees
    for name in ("config.json", "config.json.bak"):
        try:
            os.remove(os.path.join(sim_dir, name))
        except OSError:
            pass
    with open(os.path.join(sim_dir, "wifi-networks.json"), "w") as f:
        json.dump([{"ssid": "home", "password": "home-wifi-1", "rssi": -52}, {"ssid": "neighbour", "password": "-", "rssi": -79}], f)


def meter_command(env, uart_port):
    # (argv of the process serving the meter's bytes, what it is, serial setting for the config)
    speed = env.get("SPEED", "1")
    try:
        if not float(speed) > 0:
            raise ValueError
    except ValueError:
        fail("SPEED=%s is not a number above 0" % speed)
    tcp = "127.0.0.1:%d" % uart_port
    tools = os.path.join(ROOT, "tools")
    capture = env.get("CAPTURE")
    if capture:
        if not os.path.exists(capture):
            fail("capture %s not found" % capture)
        argv = [sys.executable, os.path.join(tools, "replay.py"), "--tcp", tcp, "--speed", speed, "--loop", capture]
        return argv, "replay of %s at %sx" % (os.path.relpath(os.path.abspath(capture), ROOT), speed), "auto"
    meter = env.get("METER", "aidon")
    if meter not in METERS:
        fail("METER must be one of %s (or give CAPTURE=file)" % ", ".join(METERS))
    start = env.get("START") or "now"
    if start != "now":
        sys.path.insert(0, tools)
        import oslo_time

        try:
            oslo_time.parse_local(start)
        except ValueError as e:
            fail("START: %s" % e)
    argv = [sys.executable, os.path.join(tools, "virtual_meter.py"), meter, "--tcp", tcp, "--speed", speed,
            "--start", start, "--seed", env.get("SEED", "1")]
    if env.get("SOLAR", "") not in ("", "0", "no"):
        argv.append("--solar")
    return argv, "virtual %s meter at %sx" % (meter, speed), meter


def wait_listening(proc, what):
    # the meter prints one line once it listens; anything else (or nothing) means it failed
    line = proc.stdout.readline().decode().strip()
    if proc.poll() is not None or not line:
        time.sleep(0.2)
        fail("the %s did not start (exit status %s)" % (what, proc.poll()))
    print(line)


def main():
    env = os.environ
    argv, what, serial = meter_command(env, 0)  # the settings first: a mistake there stops it before any port matters
    http_port, uart_port, mqtt_host, mqtt_port, own_broker = check_ports(env)
    sim_dir = env.get("SIM_DIR") or os.path.join(ROOT, "build", "sim", "http-%d" % http_port)
    os.makedirs(sim_dir, exist_ok=True)
    argv, what, serial = meter_command(env, uart_port)
    children = []
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl-C
    try:
        if own_broker:
            children.append(start_broker(sim_dir, mqtt_port, open(os.path.join(sim_dir, "mosquitto.log"), "w")))
            broker = "%s:%d (mosquitto started by make sim)" % (mqtt_host, mqtt_port)
        else:
            broker = "%s:%d (already running)" % (mqtt_host, mqtt_port)
        setup = env.get("SETUP") == "1"
        if setup:
            write_setup(sim_dir)
        else:
            write_config(sim_dir, serial, mqtt_host, mqtt_port, http_port)
        meter = subprocess.Popen(argv, stdout=subprocess.PIPE)  # its errors go to the terminal
        children.append(meter)
        wait_listening(meter, what)
        # a sim beside the one on 8080 gets its own device id: its own topics and MQTT client id on a shared broker
        device = env.get("HAN_DEVICE_ID") or ("sim" if http_port == 8080 else "sim-%d" % http_port)
        fw_env = dict(env, MICROPYPATH=".frozen:" + os.path.join(ROOT, "lib"), HAN_CONFIG="config.json",
                      HAN_BOARDS=os.path.join(ROOT, "boards"), HAN_UART="127.0.0.1:%d" % uart_port,
                      HAN_DEVICE_ID=device, HAN_HTTP_PORT=str(http_port))
        if setup:
            fw_env.update(MICROPYPATH=fw_env["MICROPYPATH"] + ":" + os.path.join(ROOT, "host_tests", "mpy_wifi"),
                          HAN_WIFI_CONTROL=os.path.join(sim_dir, "wifi.control"),
                          HAN_WIFI_NETWORKS=os.path.join(sim_dir, "wifi-networks.json"))
        firmware = subprocess.Popen([MICROPYTHON, os.path.join(ROOT, "firmware", "main.py")], cwd=sim_dir, env=fw_env)
        children.append(firmware)

        print("sim: firmware/main.py on the MicroPython unix port, board 'host', %s on TCP port %d" % (what, uart_port))
        print("sim: MQTT broker %s; watch it with:" % broker)
        print("       mosquitto_sub -h %s -p %d -t 'han/#' -t 'homeassistant/#' -v" % (mqtt_host, mqtt_port))
        print("sim: topics han/%s/{status,power,energy,meter,diag}; Home Assistant discovery under homeassistant/" % device)
        print("sim: status page http://localhost:%d/  (JSON: http://localhost:%d/api/status)" % (http_port, http_port))
        if setup:
            print("sim: SETUP=1: no config.json; the setup page is http://localhost:%d/ (the access point's page): choose"
                  " network 'home', password 'home-wifi-1', broker %s port %d, meter %s, board host" % (
                      http_port, mqtt_host, mqtt_port, serial))
        print("sim: Ctrl-C stops it all", flush=True)
        while True:
            for p, name in ((firmware, "the firmware"), (meter, "the meter")) + ((children[0], "mosquitto"),) * own_broker:
                if p.poll() is not None:
                    print("sim: %s exited with status %d; stopping" % (name, p.returncode))
                    return 1
            time.sleep(0.2)
    except KeyboardInterrupt:
        print()
        return 0
    finally:
        for p in reversed(children):
            if p.poll() is None:
                p.terminate()
        for p in children:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    sys.exit(main())
