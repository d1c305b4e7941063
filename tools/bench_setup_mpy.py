# bench_setup_mpy.py Provides the settings page's heap figures on the 32-bit MicroPython: lib/web.py serving /settings to real clients, step by step.
# MIT license
#
# Run by tools/bench_setup32.mjs (node, npm's WebAssembly MicroPython with tools/mpy32_net.mjs's sockets), which calls
# setup(), then step() once per pass of the loop and dump() after each pass with a client, from JS: this port
# collects garbage only between calls from JS, so each pass's garbage is still in the heap when dump() runs, and
# is collected before the next. The clients are tools/bench_setup.py's. What is measured is the request's own
# heap on top of the loop's: the WebServer and what lib/form_req.py and lib/setup_form.py use of the App are
# here, the rest of the App is not. Prints, for tools/bench_setup.py to read:
#   bench-setup: listening <port>
#   bench-setup: base <bytes in use>            then micropython.mem_info(1) (the block table)
#   bench-setup: step <bytes in use beyond the base> <clients before the pass> <clients after it>, then its block table
#   bench-setup: end
#   bench-setup: code <module> <bytes>          the heap each module takes while imported (code_start/code_end)
import gc
import micropython
import sys

_s = {}


class App:
    # what form_req.py and setup_form.py use of lib/app.py's App (paths as lib/boot_guard.py sets them)
    def __init__(self, cfg, boards):
        self.paths = ("config.json", boards, ".")
        self.device_id = "bench"
        self.cfg = cfg
        self.errors = []
        self.setup = None
        self.auth = None
        self.mqtt = self  # set_config_errors() below: a save that changes no broker keeps the MQTT connection

    def log(self, text):
        pass

    def set_config_errors(self, errors):
        pass


def _form(line, sock):
    # lib/app.py's App._form: the module for one request, dropped after
    m = __import__("form_req")
    sys.modules.pop("form_req", None)
    return m.reader(_s["app"], line, sock)


def _end():
    _s["done"] = True
    return "text/plain", b"bye\n"


def setup(port, boards):
    import json

    import config
    from web import WebServer

    with open("config.json") as f:
        cfg, errors = config.check(json.load(f), optional=())
    sys.modules.pop("config", None)
    _s["app"] = App(cfg, boards)
    web = WebServer(port, {"/bench-end": _end})
    web.forms = _form
    _s["web"] = web
    _s["done"] = False
    print("bench-setup: listening %d" % port)


def base():
    # after a collection (the call before this one)
    _s["base"] = gc.mem_alloc()
    print("bench-setup: base %d" % _s["base"])
    micropython.mem_info(1)
    print("bench-setup: dump-end")


def step():
    # one pass of the loop's web step -> 0 idle, 1 a client was served, 2 the bench is over
    web = _s["web"]
    before = len(web.clients)
    web.poll()
    in_use = gc.mem_alloc() - _s["base"]
    if _s["done"] and not web.clients:
        print("bench-setup: end")
        return 2
    if not before and not web.clients:
        return 0
    _s["step"] = (in_use, before, len(web.clients))
    return 1


def dump():
    # the block table after a pass, before its garbage is collected
    print("bench-setup: step %d %d %d" % _s["step"])
    micropython.mem_info(1)
    print("bench-setup: dump-end")


def code_start(name):
    # the heap a module's import takes, as for a request: after a collection, import (this call), collect, code_end()
    _s["before"] = gc.mem_alloc()
    _s[name] = __import__(name)
    sys.modules.pop(name, None)


def code_end(name):
    print("bench-setup: code %s %d" % (name, gc.mem_alloc() - _s["before"]))
    del _s[name]
