# boot_guard.py Provides start() and ended(): firmware/main.py's count of failed starts, its safe mode, and the report of a start that failed.
# MIT license
#
# Each start is counted in failed_boots until the loop has run through its start-up (the app then
# calls watchdog.boot_ok()); after 3 failed starts in a row the app is not started (safe mode) and
# the REPL stays free. Only resets made by the firmware or the watchdog carry the count: a power-on,
# the RESET button, a brown-out or a soft reset give 3 fresh tries. A failed start goes to
# last_error.txt and the console; after a pause in which Ctrl-C keeps the REPL, the board resets.
# Ctrl-C stops the app and leaves the watchdog fed from a timer (watchdog.hand_over).
# main.py imports this module for start() and drops it while the app runs (it is source on the
# device, compiled into RAM, so it stays short); it imports it again for ended() when the app stops.

import gc
import os
import sys
import time
from micropython import const

_LIMIT = const(3)
_HOST = sys.platform in ("linux", "webassembly")  # the unix port, or the 32-bit WebAssembly port: a PC, no board
_FAILED = "failed_boots"  # lib/watchdog.py clears it
_ERROR = "last_error.txt"


def start():
    # (the app's loop, App.run, or None when it is not to be started; the failed starts before this one).
    # A start that fails before the loop was reached is reported here.
    try:
        import machine

        carried = machine.reset_cause() in (machine.HARD_RESET, machine.WDT_RESET)
    except (ImportError, AttributeError):  # the unix port: a process start is a power-on
        carried = False
    failed = 0
    try:
        with open(_FAILED) as f:
            failed = int(f.read()) if carried else 0
    except (OSError, ValueError):
        pass
    if failed >= _LIMIT:
        try:
            with open(_ERROR) as f:
                print(f.read(600))
        except OSError:
            pass
        print("boot: safe mode: %d starts in a row failed before the loop ran (the error above is in %s); the app is not"
              " started. RESET or a power-cycle gives %d more tries; make deploy clears the count." % (failed, _ERROR, _LIMIT))
        _hand_over()
        return None, failed
    _count(failed + 1)  # the app clears it once its loop runs: a crash or hang before then counts
    try:
        import release

        print("boot: " + release.line())
        del release, sys.modules["release"]  # needed once here: give its RAM back
        why = None
        setup = False
        if "safeboot" in sys.modules or "SAFE_BOOT" in os.listdir():  # boot.py's window ran, or the file is there
            import safeboot

            why = safeboot.requested()
            setup = safeboot.setup_asked
            del sys.modules["safeboot"]  # needed once: give its RAM back
        if why:
            _count(failed)  # asked for, not failed
            print("boot: safe mode: %s; the app is not started." % why)
            _hand_over()
            return None, failed
        return _app(setup).run, failed
    except KeyboardInterrupt:
        ended(None, failed)
    except Exception as e:
        ended(e, failed)
    return None, failed


def ended(e, failed):
    # the app's loop ended: with the exception e (a failed start: counted, logged, then a reset),
    # or with None (Ctrl-C: the REPL has the board)
    if e is None:
        if _FAILED in os.listdir():
            _count(failed)  # a Ctrl-C is not a failed start (unless the app has cleared the count already)
        print("boot: stopped (Ctrl-C); the REPL is yours")
        _hand_over()
        return
    _count(failed + 1)  # again: the app may have cleared it before it failed
    try:
        with open(_ERROR, "w") as f:
            f.write("failed start %d of %d, %s\n" % (failed + 1, _LIMIT, sys.version))
            sys.print_exception(e, f)
    except OSError:
        pass
    sys.print_exception(e)
    if "incompatible .mpy" in str(e):
        print("boot: this MicroPython cannot load the firmware's .mpy files: flash a newer release (README), then make deploy")
    pause = int(_env("HAN_FAIL_PAUSE_S", 10))
    print("boot: the start failed (%d of %d before safe mode; see %s); resetting in %d s, Ctrl-C keeps the REPL"
          % (failed + 1, _LIMIT, _ERROR, pause))
    try:
        time.sleep(pause)
    except KeyboardInterrupt:
        return _hand_over()
    try:
        import machine

        machine.reset()
    except (ImportError, AttributeError):
        pass
    sys.exit(3)  # the unix port: end the process, as a reset would


def _app(setup):
    # the App, made with config.json and the board's profile; with the setup access point open when
    # no Wi-Fi network is set, or when asked for (a short press of BOOT in the boot window)
    import app
    import board
    import config

    state_dir = _env("HAN_STATE_DIR", ".")
    path = _env("HAN_CONFIG", "config.json")
    cfg, errors = config.load(path, optional=("wifi.ssid",) if _HOST else ())  # a PC has no Wi-Fi
    cfg["http.port"] = int(_env("HAN_HTTP_PORT", cfg["http.port"]))  # the unix port: tests and make sim
    name = "host" if _HOST else cfg["board"]  # a PC can only be the host board
    profile, board_errors = board.load(name, _env("HAN_BOARDS", "boards"))
    if profile is None:  # keep reading the meter with the most common wiring
        profile, more = board.load("esp32-devkitc", _env("HAN_BOARDS", "boards"))
        board_errors += more
        name = "esp32-devkitc"
    cfg["board"] = name  # the board that runs (the settings page compares a new one with it)
    del board, config, sys.modules["board"], sys.modules["config"]  # needed once, at boot: give their RAM back
    gc.collect()
    a = app.App(cfg, errors + board_errors, profile, state_dir)
    a.paths = (path, _env("HAN_BOARDS", "boards"), state_dir)  # for the setup and settings pages
    if a.link.wlan is not None and a.web is not None and (setup or not cfg["wifi.ssid"]):  # a PC has no Wi-Fi to set up
        import setup_mode

        setup_mode.start(a, "the BOOT button was pressed briefly" if setup else "no Wi-Fi network is set")
        del setup_mode, sys.modules["setup_mode"]  # the App holds what it needs while setup runs
    return a


def _env(name, default=None):
    getenv = getattr(os, "getenv", None)  # the unix port has it; the ESP32 has no environment
    return (getenv(name) if getenv else None) or default


def _count(n):
    try:
        if n:
            with open(_FAILED, "w") as f:
                f.write(str(n))
        else:
            os.remove(_FAILED)
    except OSError:
        pass  # no count, or a full or read-only flash: the console still says what happened


def _hand_over():
    # the REPL has the board: keep a running watchdog fed
    if "watchdog" in sys.modules:
        sys.modules["watchdog"].hand_over()
