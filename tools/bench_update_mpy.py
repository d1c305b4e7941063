# bench_update_mpy.py Provides the update's heap figures on MicroPython: a bundle fed to lib/updater.py in the network's 512-byte pieces.
# Run by tools/bench_update.py in an empty working folder (the "flash"): on the unix port as a script,
#   micropython tools/bench_update_mpy.py <bundle> [<folder with updater.mpy>]
# and on the 32-bit WebAssembly port through tools/bench_update32.mjs, which calls begin(), then step()
# once per piece from JS (that port collects garbage only between calls from JS), then end().
# Figures: the heap the updater's import takes; at the end of each piece the most in use (that piece's
# garbage included, the earlier pieces' collected) and, after a collection, the most still live.
import gc
import json
import sys

_root = __file__.rsplit("/", 2)[0] if __file__.count("/") >= 2 else ".."
sys.path[:0] = [_root + "/firmware", _root + "/lib"]  # app_slot (beside main.py on a device) and updater
_s = {}


def begin(path, mpy_dir=None):
    # mpy_dir: updater.mpy, as a device loads it (bytecode, no compiler at import). On the 32-bit port
    # each of these three is its own call from JS, with the collections between them
    base(mpy_dir)
    load()
    start(path)


def base(mpy_dir=None):
    if mpy_dir:
        sys.path.insert(0, mpy_dir)
    gc.collect()
    _s["base"] = gc.mem_alloc()


def load():
    import updater

    _s["updater"] = updater


def start(path):
    gc.collect()
    _s.update(imported=gc.mem_alloc() - _s["base"], in_use=0, live=0, pieces=0)
    _s["u"] = _s["updater"].Update()
    _s["buf"] = bytearray(512)
    _s["mv"] = memoryview(_s["buf"])
    _s["f"] = open(path, "rb")


def step():
    # one piece; True when the bundle is in
    u = _s["u"]
    n = _s["f"].readinto(_s["buf"], min(u.wanted(), 512)) if not u.done else 0
    if n:
        u.feed(_s["mv"][:n])
        _s["pieces"] += 1
        _s["in_use"] = max(_s["in_use"], gc.mem_alloc() - _s["base"])
    return not n


def collected():
    gc.collect()
    _s["live"] = max(_s["live"], gc.mem_alloc() - _s["base"])


def end():
    _s["f"].close()
    message = _s["u"].finish()
    return json.dumps({"import_bytes": _s["imported"], "peak_in_use_bytes": _s["in_use"], "peak_live_bytes": _s["live"],
                       "pieces": _s["pieces"], "bits": 32 if sys.maxsize < 2**32 else 64, "message": message})


if __name__ == "__main__" and len(sys.argv) > 1:
    begin(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
    while not step():
        collected()
    print(end())
