# machine.py A stand-in for the ESP32's machine module on the unix port: WDT, Timer, RTC memory, reset_cause, reset, and a UART whose IRQ never runs. Host only (tests).
#
# Put this folder on MICROPYPATH; everything else comes from the unix port's own machine module.
# Behaves like the device, not nicer:
# - WDT: one per chip; a second WDT() reconfigures the one running; no deinit; not fed within its
#   timeout, the process is killed at once (SIGKILL), as the chip resets. It watches from a thread
#   of its own, so nothing the firmware does can stop it.
# - Timer(n): a periodic callback from a thread of its own. On the device a soft timer callback also
#   runs while the REPL waits for input; the unix port's scheduler does not run there, so a thread is
#   the closest stand-in (kinder in one way: it also runs during a long blocking call, where the
#   device's callback waits). Timer(n) is one timer per number, as on the device.
# - RTC().memory(): kept while the process lives (a soft reset keeps it).
# - reset_cause(): HAN_RESET_CAUSE (power-on, hard, watchdog, soft), power-on by default: a process
#   start is a power-on unless the test says which reset came before.
# - reset(): ends the process (exit status 3) half a second later, as the board resets while its USB
#   port stays open (mpremote has let go by then).
# - UART: the UART of MicroPython v1.24.0-v1.25.0 opened with rxbuf=: bytes arrive (from HAN_UART,
#   tools/replay.py over TCP, as host_uart.HostUart reads them) and wait in the driver (any()), and
#   irq() accepts a handler that it never calls.
# What it does goes to machine.log in the working folder (the "flash"): armed, reconfigured, reset.
import sys

_me = sys.modules.pop("machine")
_path = sys.path[:]
sys.path[:] = []  # the built-in machine is shadowed by this file; with no path the import finds it
try:
    import machine as _real
finally:
    sys.path[:] = _path
    sys.modules["machine"] = _me
for _name in dir(_real):
    if not _name.startswith("__"):
        globals()[_name] = getattr(_real, _name)

import _thread
import os
import time

PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5
_CAUSES = {"power-on": PWRON_RESET, "hard": HARD_RESET, "watchdog": WDT_RESET, "soft": SOFT_RESET}
_LOG = os.getcwd() + "/machine.log"
_wdt = [0, 0]  # timeout ms (0: not started), ticks of the last feed
_rtc = [b""]
_timers = {}  # number -> [generation, period ms, callback]


def _log(text):
    with open(_LOG, "a") as f:
        f.write(text + "\n")


def reset_cause():
    return _CAUSES[os.getenv("HAN_RESET_CAUSE") or "power-on"]


def reset():
    _log("reset")
    time.sleep_ms(500)
    sys.exit(3)


class WDT:
    def __init__(self, id=0, timeout=5000):
        if id != 0 or timeout <= 0:
            raise ValueError("WDT timeout too short")
        first = not _wdt[0]
        _wdt[1] = time.ticks_ms()
        _wdt[0] = timeout
        _log("%s %d" % ("armed" if first else "reconfigured", timeout))
        if first:
            _thread.start_new_thread(_watch, ())

    def feed(self):
        _wdt[1] = time.ticks_ms()


def _watch():
    while True:
        time.sleep_ms(20)
        late = time.ticks_diff(time.ticks_ms(), _wdt[1])
        if late > _wdt[0]:
            _log("watchdog reset: not fed for %d ms" % late)
            os.system("kill -KILL $PPID")  # the shell's parent: this process
            time.sleep_ms(1000)


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id, **kw):
        self.id = id
        _timers.setdefault(id, [0, 0, None])
        if kw:
            self.init(**kw)

    def init(self, mode=PERIODIC, period=1000, callback=None, freq=None):
        t = _timers[self.id]
        t[0] += 1
        t[1] = int(1000 // freq) if freq else period
        t[2] = callback
        _thread.start_new_thread(self._run, (t[0], mode == self.ONE_SHOT))

    def deinit(self):
        _timers[self.id][0] += 1

    def _run(self, generation, once):
        t = _timers[self.id]
        while True:
            time.sleep_ms(t[1])
            if t[0] != generation:
                return
            try:
                t[2](self)
            except Exception as e:
                sys.print_exception(e)
            if once:
                return


class RTC:
    def memory(self, data=None):
        if data is None:
            return _rtc[0]
        _rtc[0] = bytes(data)


class UART:
    IRQ_RX = 0x4
    IRQ_RXIDLE = 0x1000
    INV_RX = 0x4

    def __init__(self, id, **options):
        from host_uart import HostUart

        self.options = options
        self._source = HostUart(os.getenv("HAN_UART") or "127.0.0.1:7700")
        self._driver = bytearray()  # what the driver holds
        self._chunk = bytearray(256)
        self.handler = None

    def init(self, **options):
        self.options.update(options)

    def irq(self, handler=None, trigger=0, hard=False):
        self.handler = handler  # accepted, never called

    def _fill(self):
        n = self._source.readinto(self._chunk)
        while n:
            self._driver += self._chunk[:n]
            n = self._source.readinto(self._chunk)

    def any(self):
        self._fill()
        return len(self._driver)

    def readinto(self, buf, nbytes=-1):
        self._fill()
        n = min(len(buf) if nbytes < 0 else nbytes, len(self._driver))
        if not n:
            return None
        buf[:n] = self._driver[:n]
        self._driver = self._driver[n:]
        return n
