# test_watchdog.py Checks the watchdog hand-over: fed by the loop, then by a timer once the loop ends, and again after a soft reset.
# Shared: runs under pytest and under the MicroPython unix port (mpy_runner.py).
# The whole flow against the unix port (Ctrl-C, mpremote, make deploy) is in test_deploy.py.

import os

import watchdog


class Machine:
    # machine on an ESP32: one watchdog per chip (a second WDT() reconfigures it, nothing stops it);
    # timers are stopped by a soft reset, RTC memory is not
    PWRON_RESET, HARD_RESET, WDT_RESET, SOFT_RESET = 1, 2, 3, 5

    def __init__(self, cause=1, rtc=b""):
        self.cause = cause
        self.timeouts = []  # each WDT(timeout=)
        self.feeds = 0
        self.timers = {}  # number -> [period, callback] while running
        self.rtc = rtc
        machine = self

        class WDT:
            def __init__(self, id=0, timeout=5000):
                machine.timeouts.append(timeout)

            def feed(self):
                machine.feeds += 1

        class Timer:
            PERIODIC = 1

            def __init__(self, n):
                self.n = n

            def init(self, period, mode, callback):
                machine.timers[self.n] = [period, callback, self]

            def deinit(self):
                machine.timers.pop(self.n, None)

        class RTC:
            def memory(self, data=None):
                if data is None:
                    return machine.rtc
                machine.rtc = data

        self.WDT, self.Timer, self.RTC = WDT, Timer, RTC

    def reset_cause(self):
        return self.cause

    def tick(self):
        # what the timer does each period
        for period, callback, timer in list(self.timers.values()):
            callback(timer)


_MACHINE = watchdog._machine


def _fresh(m):
    # the module's machine is m (None: a port without one) until the test ends
    watchdog._machine = lambda: m
    watchdog._wdt = None
    watchdog._timer = None


def test_the_loop_feeds_while_it_runs_and_a_timer_once_it_stops():
    m = Machine()
    _fresh(m)
    assert not watchdog.hand_over()  # nothing armed: nothing to feed
    assert watchdog.arm(60000) is not None and m.timeouts == [60000] and m.timers == {}
    assert m.rtc == b"wdt 60000"  # a soft reset will know it runs
    watchdog.hand_over()  # Ctrl-C: the loop is gone
    assert list(m.timers) == [1] and m.timers[1][0] <= 60000 // 4  # Timer(0) is the UART's
    m.tick()
    m.tick()
    assert m.feeds == 2
    watchdog.arm(60000)  # the loop runs again (after a soft reset): only it feeds
    assert m.timers == {}
    watchdog._machine = _MACHINE


def test_after_a_soft_reset_the_running_watchdog_is_fed_again():
    m = Machine(cause=Machine.SOFT_RESET, rtc=b"wdt 8000")  # the timer died with the soft reset
    _fresh(m)
    assert watchdog.after_soft_reset()
    assert m.timeouts == [8000] and 1 in m.timers  # same timeout, taken again
    m.tick()
    assert m.feeds == 1
    watchdog._machine = _MACHINE


def test_no_watchdog_is_started_where_none_ran():
    m = Machine(cause=Machine.SOFT_RESET)  # the app never armed one
    _fresh(m)
    assert not watchdog.after_soft_reset() and m.timeouts == [] and m.timers == {}
    m = Machine(cause=Machine.HARD_RESET, rtc=b"wdt 8000")  # a real reset stopped it
    _fresh(m)
    assert not watchdog.after_soft_reset() and m.timeouts == [] and m.rtc == b""
    _fresh(None)  # the unix port without a stand-in
    assert watchdog.arm(5000) is None and not watchdog.after_soft_reset() and not watchdog.hand_over()
    watchdog._machine = _MACHINE


def test_boot_ok_clears_the_count_of_failed_starts():
    here = os.getcwd()
    os.chdir("/tmp")  # the count lives in the working folder: "/" on the device
    try:
        with open(watchdog.FAILED_BOOTS, "w") as f:
            f.write("2")
        watchdog._counting = True
        watchdog.boot_ok()
        assert watchdog.FAILED_BOOTS not in os.listdir(".")
        with open(watchdog.FAILED_BOOTS, "w") as f:
            f.write("1")  # a later start's count (the app calls boot_ok() every second)
        watchdog.boot_ok()
        assert watchdog.FAILED_BOOTS in os.listdir(".")  # only the first call clears it
        os.remove(watchdog.FAILED_BOOTS)
    finally:
        os.chdir(here)
