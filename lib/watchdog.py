# watchdog.py Provides arm(), hand_over(), after_soft_reset() and boot_ok(): the hardware watchdog, fed by the loop while it runs and by a timer while the REPL has the board.
# MIT license
#
# machine.WDT cannot be stopped, and a soft reset does not stop it (it stops every Timer, though).
# So when the loop ends (Ctrl-C, mpremote) hand_over() feeds it from a Timer, whose callback also
# runs while the REPL waits for input; after a soft reset boot.py calls after_soft_reset(), which
# takes the running watchdog again (a second WDT() reconfigures the one running) and starts the
# timer. arm() stops the timer: from then on only the loop feeds it. Whether a watchdog runs, and
# its timeout, is kept in RTC memory, which a soft reset keeps and a real reset does not need.
# boot_ok() is the loop's other proof of life: it clears firmware/main.py's count of failed starts.

from micropython import const

_TIMER = const(1)  # Timer(0) is the UART's, for IRQ_RXIDLE; every ESP32 chip has a Timer(1)
_FEED_MS = const(1000)
_MARK = b"wdt "  # RTC memory: b"wdt <timeout ms>" while a watchdog runs
FAILED_BOOTS = "failed_boots"  # firmware/main.py's count of failed starts

_wdt = None
_timer = None
_counting = True  # main.py's count of failed starts may be on flash until boot_ok()


def _machine():
    try:
        import machine

        return machine
    except ImportError:
        return None


def arm(timeout_ms):
    # start the watchdog (or take the running one); the caller feeds it from now on.
    # Returns the WDT, or None where the port has none (the unix port).
    global _wdt
    m = _machine()
    if m is None or not hasattr(m, "WDT"):
        return None
    _wdt = m.WDT(timeout=timeout_ms)
    _stop_timer()
    _remember(m, timeout_ms)
    return _wdt


def hand_over():
    # the loop has ended: feed the watchdog from a timer so the REPL, mpremote and a deploy are not reset.
    # Returns True when a watchdog runs.
    if _wdt is None:
        return False
    _start_timer(_machine())
    return True


def after_soft_reset():
    # boot.py: after a soft reset, keep feeding the watchdog the last session started; after a real
    # reset there is none. Returns True when a watchdog runs.
    global _wdt
    m = _machine()
    if m is None or not hasattr(m, "RTC"):
        return False
    try:
        rtc = m.RTC()
        mark = bytes(rtc.memory())
        soft = m.reset_cause() == m.SOFT_RESET
    except (AttributeError, OSError, TypeError):
        return False
    timeout = _timeout(mark)
    if not soft:
        if mark:
            rtc.memory(b"")  # a real reset stopped the watchdog
        return False
    if not timeout:
        return False
    _wdt = m.WDT(timeout=timeout)
    _start_timer(m)
    return True


def boot_ok():
    # the loop has run through its start-up: this start did not fail. Only the first call does anything.
    global _counting
    if not _counting:
        return
    _counting = False
    try:
        import os

        os.remove(FAILED_BOOTS)
    except OSError:
        pass  # there was no count


def _timeout(mark):
    if not mark.startswith(_MARK):
        return 0
    try:
        return int(mark[len(_MARK):])
    except ValueError:
        return 0


def _feed(_):
    _wdt.feed()


def _start_timer(m):
    global _timer
    if _timer is None:
        _timer = m.Timer(_TIMER)
    _timer.init(period=_FEED_MS, mode=m.Timer.PERIODIC, callback=_feed)


def _stop_timer():
    if _timer is not None:
        _timer.deinit()


def _remember(m, timeout_ms):
    try:
        m.RTC().memory(_MARK + str(timeout_ms).encode())
    except (AttributeError, OSError):
        pass  # no RTC memory: a soft reset then leaves the watchdog unfed until the app arms it again
