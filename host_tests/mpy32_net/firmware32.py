# firmware32.py Provides the firmware's start on the 32-bit WebAssembly MicroPython: firmware/main.py, its loop driven from JS. Host only.
# MIT license
#
# Run by run_wasm.mjs: `firmware32.py <firmware/main.py> <the modules lib/app.py imports, comma-separated>
# [<modules the app imports later, comma-separated>]`. This port collects
# garbage only when a call from JS returns (see run_wasm.mjs), so the start and the loop are cut into
# calls from JS: first the modules lib/app.py imports, one call each, in its order; then main.py,
# which starts as on a device until App.run(); run() hands the loop to JS, and each pass of
# App.run()'s loop is one call: step(), and an exception counted and printed, as run() does.
# After every call a check that the heap did not grow: on this port the heap grows where a fixed one
# would raise MemoryError (and where the ESP32 takes memory from Wi-Fi); it prints
# "mpy32: the heap grew ..." for the tests to find. The start also prints the heap in use (after a
# collection) once the stand-ins for the device's built-in modules are loaded ("mpy32: heap baseline N":
# not the firmware's) and after each module and main.py ("mpy32: heap after <what> N").

import gc
import micropython
import sys

import _mpy32loop

_LOOP_MS = 20  # app.py's _LOOP_MS
_SIZE = gc.mem_alloc() + gc.mem_free()  # changes only when an area is added to the heap (or freed again)
_grown = [0]
_app = []
_MAIN, _APP_IMPORTS = sys.argv[1], sys.argv[2]  # the modules lib/app.py imports, in its order (harness32.py)
# loaded by the app at its first use, inside a pass (the accounting's at the first message): loaded here
# one call each instead, as a device's GC would collect during that import and this port cannot
_LATER = sys.argv[3] if len(sys.argv) > 3 else ""


def _check(where):
    size = gc.mem_alloc() + gc.mem_free()
    if size != _SIZE and size != _grown[0]:
        _grown[0] = size
        print("mpy32: the heap grew by %d bytes (%s)" % (size - _SIZE, where))


def _boot():
    # built into the device's firmware, here Python modules in the heap: loaded before the baseline
    for name in ("socket", "select", "usocket", "errno"):
        __import__(name)
        _check("stand-in " + name)
        yield  # one call each: this port collects only between calls
    names = [n for n in _APP_IMPORTS.split(",") if n not in sys.modules] + ["app"] + [n for n in _LATER.split(",") if n]
    _check("stand-ins")
    yield
    print("mpy32: heap baseline %d" % gc.mem_alloc())  # collected as the call before returned
    micropython.qstr_info()  # "qstr pool: n_pool=..., n_qstr=..., ...": the qstrs' share
    for name in names:
        __import__(name)
        _check("loading " + name)
        yield
        print("mpy32: heap after %s %d" % (name, gc.mem_alloc()))
    sys.modules["app"].App.run = _run
    try:
        exec(open(_MAIN).read(), {"__name__": "__main__", "__file__": _MAIN})  # ends in App.run(): _run()
    except _LoopInJS:
        pass
    _check("boot")
    yield
    print("mpy32: heap after main.py %d" % gc.mem_alloc())
    micropython.qstr_info()


class _LoopInJS(BaseException):
    # raised by the stand-in for App.run() to leave main.py where a device stays in the loop: main.py
    # catches neither it nor anything above it, so what it does after run() returns (on a device: after
    # Ctrl-C, boot_guard.ended() hands the board to the REPL) does not run here either
    pass


def _run(a):
    a.log("mpy32: firmware on the 32-bit WebAssembly MicroPython, loop driven from JS")
    _app.append(a)
    raise _LoopInJS


def _pass():
    a = _app[0]
    _check("between passes: the runner's")  # its collection, mem_info and the heap's cut are not the firmware's
    try:
        a.step()
    except KeyboardInterrupt:
        raise
    except Exception as e:  # as App.run(): a bug must not stop the meter being read
        a.errors_seen += 1
        sys.print_exception(e)
    _check("loop")


def _call(boot=_boot()):
    for _ in boot:
        return
    if not _app:
        raise SystemExit(0)  # main.py ended without starting the app (safe boot)
    _pass()


_mpy32loop.hold(_call, _LOOP_MS)
