# main.py Starts the firmware (lib/app.py) so that nothing before its loop can strand the board.
# MIT license
#
# An exception before the loop runs (a failed import, an App that cannot start) goes to
# last_error.txt and the console; after a pause in which Ctrl-C keeps the REPL, the board resets.
# Each start is counted in failed_boots until the loop has run through its start-up (the app then
# calls watchdog.boot_ok()); after 3 failed starts in a row the app is not started (safe mode) and
# the REPL stays free. Only resets made by the firmware or the watchdog carry the count: a power-on,
# the RESET button, a brown-out or a soft reset give 3 fresh tries. Ctrl-C stops the app and leaves
# the watchdog fed from a timer (watchdog.hand_over). Nothing but built-in modules is imported
# outside the guard, since lib/ may be what fails (an .mpy file this MicroPython cannot load).
# Short on purpose: its code stays in RAM while the app runs. On the unix port (make sim, the
# tests) it is run directly, and a reset ends the process.
import os
import sys
import time

_FAILED = "failed_boots"  # lib/watchdog.py clears it
_ERROR = "last_error.txt"


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


def _main(limit=3):
    try:
        import machine

        carried = machine.reset_cause() in (machine.HARD_RESET, machine.WDT_RESET)
    except (ImportError, AttributeError):  # the unix port: a process start is a power-on
        machine = None
        carried = False
    failed = 0
    try:
        with open(_FAILED) as f:
            failed = int(f.read()) if carried else 0
    except (OSError, ValueError):
        pass
    if failed >= limit:
        try:
            with open(_ERROR) as f:
                print(f.read(600))
        except OSError:
            pass
        print("boot: safe mode: %d starts in a row failed before the loop ran (the error above is in %s); the app is not"
              " started. RESET or a power-cycle gives %d more tries; make deploy clears the count." % (failed, _ERROR, limit))
        return _hand_over()
    _count(failed + 1)  # the app clears it once its loop runs: a crash or hang before then counts
    try:
        import release

        print("boot: " + release.line())
        del release, sys.modules["release"]  # needed once here: give its RAM back
        why = None
        if "safeboot" in sys.modules or "SAFE_BOOT" in os.listdir():  # boot.py's window ran, or the file is there
            import safeboot

            why = safeboot.requested()
            del sys.modules["safeboot"]  # needed once: give its RAM back
        if why:
            _count(failed)  # asked for, not failed
            print("boot: safe mode: %s; the app is not started." % why)
            return _hand_over()
        import app

        app.main()  # returns when Ctrl-C stops the loop
    except KeyboardInterrupt:
        pass
    except Exception as e:
        _count(failed + 1)  # again: the app may have cleared it before it failed
        try:
            with open(_ERROR, "w") as f:
                f.write("failed start %d of %d, %s\n" % (failed + 1, limit, sys.version))
                sys.print_exception(e, f)
        except OSError:
            pass
        sys.print_exception(e)
        if "incompatible .mpy" in str(e):
            print("boot: this MicroPython cannot load the firmware's .mpy files: flash a newer release (README), then make deploy")
        pause = int(getattr(os, "getenv", lambda n: None)("HAN_FAIL_PAUSE_S") or 10)
        print("boot: the start failed (%d of %d before safe mode; see %s); resetting in %d s, Ctrl-C keeps the REPL"
              % (failed + 1, limit, _ERROR, pause))
        try:
            time.sleep(pause)
        except KeyboardInterrupt:
            return _hand_over()
        if machine:
            machine.reset()
        sys.exit(3)  # the unix port: end the process, as a reset would
    if _FAILED in os.listdir():
        _count(failed)  # a Ctrl-C is not a failed start (unless the app has cleared the count already)
    print("boot: stopped (Ctrl-C); the REPL is yours")
    _hand_over()


_main()
