# safeboot.py Provides requested(): whether the user asked to skip the app and stay at the REPL.
# MIT license
#
# Two ways, so a broken app or config can never lock a user out: hold the board's safe-boot
# pin low while powering up, or create a file named SAFE_BOOT (e.g. `mpremote touch :SAFE_BOOT`).

import json
import os


def requested(marker="SAFE_BOOT"):
    try:
        os.stat(marker)
        return True
    except OSError:
        pass
    pin = _safe_boot_pin()
    if pin is None:
        return False
    try:
        from machine import Pin
    except ImportError:
        return False
    return Pin(pin, Pin.IN, Pin.PULL_UP).value() == 0


def _safe_boot_pin():
    try:
        with open("config.json") as f:
            name = json.load(f).get("board", "esp32-devkitc")
        with open("boards/%s.json" % name) as f:
            return json.load(f).get("safe_boot_pin")
    except (OSError, ValueError, AttributeError, TypeError):
        return 0  # no readable profile: GPIO0, the BOOT button on most ESP32 boards
