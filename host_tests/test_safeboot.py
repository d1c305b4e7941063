# test_safeboot.py Checks safe boot: the SAFE_BOOT file, and the BOOT button read in a window after reset (never at power-up).
# The count of failed starts is in test_boot_guard.py and test_watchdog.py.
# Shared: runs under pytest and under the MicroPython unix port (mpy_runner.py).

import json
import os

import safeboot

_BOARDS = (__file__.rsplit("/", 1)[0] if "/" in __file__ else ".") + "/../boards"


def _gone(path):
    try:
        os.remove(path)
    except OSError:
        pass


class Machine:
    # machine on an ESP32 after a reset: the BOOT button is pressed on the `press_at`-th read
    PWRON_RESET, HARD_RESET, WDT_RESET, SOFT_RESET = 1, 2, 3, 5

    def __init__(self, cause=1, press_at=None, release_at=None):
        self.cause = cause
        self.reads = 0
        self.press_at = press_at
        self.release_at = release_at
        self.pins = {}  # number -> mode
        self.led = []  # values written to the LED
        machine = self

        class Pin:
            IN, OUT, PULL_UP = 1, 3, 1

            def __init__(self, n, mode, pull=None):
                self.n = n
                machine.pins[n] = mode

            def value(self, v=None):
                if v is not None:
                    machine.led.append(v)
                    return None
                machine.reads += 1
                released = machine.release_at is not None and machine.reads >= machine.release_at
                return 0 if machine.press_at is not None and machine.reads >= machine.press_at and not released else 1

        self.Pin = Pin

    def reset_cause(self):
        return self.cause


def _profile(name):
    with open("%s/%s.json" % (_BOARDS, name)) as f:
        return json.load(f)


def test_a_safe_boot_file_is_honoured():
    marker = "/tmp/han-test-SAFE_BOOT"
    _gone(marker)
    assert safeboot.requested(marker) is None
    with open(marker, "w") as f:
        f.write("")
    assert "SAFE_BOOT file" in safeboot.requested(marker)
    os.remove(marker)


def test_boot_pressed_while_the_led_blinks_after_reset_enters_safe_mode():
    safeboot.pressed = False
    m = Machine(press_at=5)
    assert safeboot.window(_profile("esp32-devkitc"), 3000, m)
    assert m.pins == {0: m.Pin.IN, 2: m.Pin.OUT}  # read after the reset, so GPIO0 strapped nothing
    assert m.led[-1] == 0 and 1 in m.led  # it blinked, and is off again
    assert "BOOT was pressed" in safeboot.requested("/tmp/han-test-no-such-file")
    safeboot.pressed = False


def test_boot_pressed_briefly_asks_for_the_setup_access_point_not_safe_mode():
    safeboot.pressed = safeboot.setup_asked = False
    m = Machine(press_at=5, release_at=8)
    assert not safeboot.window(_profile("esp32-devkitc"), 3000, m)
    assert safeboot.setup_asked and not safeboot.pressed
    assert safeboot.requested("/tmp/han-test-no-such-file") is None  # the app starts
    assert m.led[-1] == 0
    safeboot.setup_asked = False


def test_the_window_closes_without_a_press_and_the_app_starts():
    safeboot.pressed = False
    m = Machine()
    assert not safeboot.window(_profile("esp32c3-devkitm1"), 50, m)
    assert m.pins == {9: m.Pin.IN} and m.reads > 1  # the C3's BOOT is GPIO9; it has no plain LED
    assert safeboot.requested("/tmp/han-test-no-such-file") is None


def test_no_window_after_a_soft_reset_nor_on_a_board_without_a_boot_button():
    m = Machine(cause=Machine.SOFT_RESET, press_at=1)
    assert not safeboot.window(_profile("esp32-devkitc"), 3000, m) and m.pins == {}
    m = Machine(press_at=1)  # the WT32-ETH01 feeds its Ethernet clock into GPIO0: never read it
    assert not safeboot.window(_profile("wt32-eth01"), 3000, m) and m.pins == {}
    assert not safeboot.window(None, 3000, m) and m.pins == {}  # no profile: no pin guessed
    assert not safeboot.pressed


def test_every_board_with_a_boot_button_names_it_and_the_wt32_eth01_none():
    pins = {n: _profile(n)["safe_boot_pin"] for n in ("esp32-devkitc", "esp32c3-devkitm1", "esp32s2-mini", "esp32s3", "wt32-eth01")}
    assert pins == {"esp32-devkitc": 0, "esp32c3-devkitm1": 9, "esp32s2-mini": 0, "esp32s3": 0, "wt32-eth01": None}

