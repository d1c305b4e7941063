# safeboot.py Provides window() and requested(): the ways to keep the app from starting, so the REPL stays free.
# MIT license
#
# Ways that work on every board, so a broken app or config can never lock a user out:
# - a file named SAFE_BOOT on the board (`mpremote touch :SAFE_BOOT`);
# - the BOOT button pressed during the 3 s after a reset, while the LED blinks (boot.py runs the
#   window), and held 2 s while the LED is lit (let go sooner, the app starts with the setup access
#   point open instead: docs/setup.md). Not held at power-up: GPIO0 (GPIO9 on the C3) is a strapping pin, and held low at reset
#   the chip starts its ROM bootloader instead of MicroPython. A board without such a button, or
#   whose GPIO0 carries something else (the WT32-ETH01 feeds its Ethernet clock into it), has
#   "safe_boot_pin": null and no window;
# - main.py stops starting the app after 3 failed starts in a row, by itself.
# Ctrl-C also stops the app at any time: the watchdog is then fed from a timer (watchdog.py).

import json
import os
import time
from micropython import const

_WINDOW_MS = const(3000)
_BLINK_MS = const(125)
_HOLD_MS = const(2000)  # BOOT held this long after the press: safe mode; released sooner: setup

pressed = False  # BOOT was pressed and held during this boot's window: safe mode
setup_asked = False  # BOOT was pressed briefly: the app starts with the setup access point open


def requested(marker="SAFE_BOOT"):
    # why the app must not start, or None
    try:
        os.stat(marker)
        return "a %s file is on the board (delete it with `mpremote rm :%s`, then reset)" % (marker, marker)
    except OSError:
        pass
    if pressed:
        return "BOOT was pressed and held after the reset (reset again to start normally)"
    return None


def window(profile=None, ms=_WINDOW_MS, machine=None, hold_ms=_HOLD_MS):
    # boot.py, after a real reset: blink the LED and watch the BOOT button for `ms`; True when pressed
    # and held (safe mode). Pressed and released within hold_ms, while the LED is lit: setup_asked.
    # A soft reset (Ctrl-D, mpremote) has no window: the REPL is already there.
    global pressed, setup_asked
    if machine is None:
        try:
            import machine
        except ImportError:
            return False
    if not hasattr(machine, "Pin") or machine.reset_cause() == machine.SOFT_RESET:
        return False
    if profile is None:
        profile = _profile()
    pin = profile.get("safe_boot_pin") if profile else None
    if pin is None:
        return False
    button = machine.Pin(pin, machine.Pin.IN, machine.Pin.PULL_UP)
    led = profile.get("led")
    off = 1 if led and led.get("active_low") else 0
    out = machine.Pin(led["pin"], machine.Pin.OUT) if led else None
    print("safe boot: press BOOT within %d s to keep the app from starting" % ((ms + 999) // 1000))
    start = time.ticks_ms()
    while True:
        spent = time.ticks_diff(time.ticks_ms(), start)
        if spent >= ms:
            break
        if out:
            out.value(off ^ (1 - (spent // _BLINK_MS) % 2))
        if button.value() == 0:
            if out:
                out.value(1 - off)  # lit while held: let go now for setup, keep holding for safe mode
            held = time.ticks_ms()
            while button.value() == 0 and time.ticks_diff(time.ticks_ms(), held) < hold_ms:
                time.sleep_ms(10)
            pressed = button.value() == 0
            setup_asked = not pressed
            if setup_asked:
                print("safe boot: BOOT pressed briefly: the setup access point opens")
            break
        time.sleep_ms(10)
    if out:
        out.value(off)
    return pressed


def _profile():
    # the board profile config.json names; None when unreadable (then no pin is read: guessing GPIO0
    # would read a clock on the WT32-ETH01)
    try:
        with open("config.json") as f:
            name = json.load(f).get("board", "esp32-devkitc")
        with open("boards/%s.json" % name) as f:
            return json.load(f)
    except (OSError, ValueError, AttributeError, TypeError):
        return None
