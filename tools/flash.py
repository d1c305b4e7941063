# flash.py Provides `make flash`: erases the board and writes the official MicroPython firmware with esptool.
# CPython. Usage:
#   python3 tools/flash.py --port /dev/ttyUSB0 --board esp32-devkitc --firmware ESP32_GENERIC-20250911-v1.26.1.bin
#
# The .bin comes from the MicroPython download page for the board's chip (see README, Getting it onto a dongle);
# the chip and the offset to write it at come from the board profile. A file whose name says a release
# older than the firmware's minimum (lib/release.py) is refused; `make deploy` checks the board itself.

import argparse
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lib"))

import release  # noqa: E402
_IMAGE_MAGIC = 0xE9  # first byte of every ESP firmware image


def fail(message):
    sys.stderr.write("flash: %s\n" % message)
    sys.exit(2)


def commands(port, chip, offset, firmware):
    esptool = [sys.executable, "-m", "esptool", "--chip", chip, "--port", port]
    return [esptool + ["erase-flash"], esptool + ["--baud", "460800", "write-flash", "-z", offset, firmware]]


def main():
    ap = argparse.ArgumentParser(description="Erase the board and write MicroPython to it.")
    ap.add_argument("--port", required=True, help="serial port of the board, e.g. /dev/ttyUSB0")
    ap.add_argument("--board", default="esp32-devkitc", help="a profile in boards/ (default esp32-devkitc)")
    ap.add_argument("--firmware", required=True, help="the MicroPython .bin for the board's chip")
    ap.add_argument("--dry-run", action="store_true", help="print the esptool commands instead of running them")
    args = ap.parse_args()

    try:
        with open(os.path.join(ROOT, "boards", args.board + ".json")) as f:
            profile = json.load(f)
    except OSError:
        fail("no board profile boards/%s.json" % args.board)
    if not profile.get("chip"):
        fail("board %s runs on the PC, there is nothing to flash" % args.board)
    try:
        with open(args.firmware, "rb") as f:
            head = f.read(1)
        size = os.path.getsize(args.firmware)
    except OSError as e:
        fail("cannot read the firmware %s: %s" % (args.firmware, e.strerror))
    if head != bytes([_IMAGE_MAGIC]) or size < 256 * 1024:
        fail("%s is not an ESP32 firmware image (download the .bin for %s from the MicroPython download page)"
             % (args.firmware, profile["chip"]))
    named = re.search(r"v(\d+)\.(\d+)\.(\d+)", os.path.basename(args.firmware))
    if named and tuple(int(n) for n in named.groups()) < release.MINIMUM:
        fail("%s is MicroPython %s; this firmware needs v%s or newer (download a newer .bin for %s)"
             % (args.firmware, ".".join(named.groups()), release.text(release.MINIMUM), profile["chip"]))
    if not args.dry_run and not os.path.exists(args.port):
        fail("no such port: %s (is the board plugged in? see ls /dev/ttyUSB* /dev/ttyACM*)" % args.port)

    for cmd in commands(args.port, profile["chip"], profile["flash_offset"], args.firmware):
        print("flash: " + " ".join(cmd[1:]))
        if not args.dry_run and subprocess.run(cmd).returncode:
            fail("esptool failed; hold the board's BOOT button while it connects, or try a lower --baud")
    if not args.dry_run:
        print("flash: done; now `make deploy PORT=%s BOARD=%s CONFIG=config.json`" % (args.port, args.board))


if __name__ == "__main__":
    main()
