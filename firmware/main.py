# main.py Starts the firmware (lib/app.py) so that nothing before its loop can strand the board.
# MIT license
#
# lib/boot_guard.py counts failed starts, keeps the app from starting in safe mode (after 3 failed
# starts in a row, or when asked for), reports a start that failed and resets the board, and hands
# the watchdog to a timer when Ctrl-C stops the app. It is dropped while the app runs: this file is
# compiled from source on the device and its code stays in RAM as long as the loop, so it is short.
# If lib/ cannot be loaded at all (missing, or .mpy files of another MicroPython), nothing can run:
# the error is printed and the REPL stays free. On the unix port (make sim, the tests) it is run
# directly, and a reset ends the process. firmware/app_slot.py first chooses the app directory (an
# update's, or lib/) and takes back a new app that keeps failing its trial.
import sys

try:
    __import__("app_slot").boot()  # the app directory to run, a new app's trial (firmware/app_slot.py; it drops itself)
except ImportError:  # no app_slot.py beside this file: lib/ runs
    pass
try:
    import boot_guard
except Exception as e:  # lib/ missing, or built for another MicroPython: no reset can help
    sys.print_exception(e)
    print("boot: lib/ cannot be loaded (after \"incompatible .mpy\": flash a newer release, see README); make deploy, then"
          " reset. The app is not started; the REPL is yours")
else:
    run, failed = boot_guard.start()  # the app's loop (App.run), or None (safe mode, or a failed start reported)
    del boot_guard, sys.modules["boot_guard"]  # not needed while the app runs: give its RAM back
    if run:
        e = None
        try:
            run()  # returns when Ctrl-C stops it
        except KeyboardInterrupt:
            pass
        except Exception as x:
            e = x
        run = None
        import boot_guard

        boot_guard.ended(e, failed)  # a failed start is reported and resets the board
        del boot_guard, sys.modules["boot_guard"]
