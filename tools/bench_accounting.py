# bench_accounting.py Provides the accounting's part of make bench: its cost per message (µs) and its heap, on MicroPython (x64 and 32 bits).
# MIT license
#
#   micropython tools/bench_accounting.py        node tools/bench_accounting32.mjs   (tools/bench.py runs both)
# Four hours of a virtual Kaifa meter (lists 1, 2, 3), as one byte stream, are decoded once with no
# accounting and once into a Ledger, as the firmware feeds it: the difference is the accounting's
# time per message. The heap, after gc.collect(): the accounting's modules (compiled from source
# here; the .mpy a device runs is what host_tests/test_heap_budget32.py measures; the qstr pool
# grows with them in ever larger chunks, so this moves by KBs with what was interned before) and
# its state after those hours; at 32 bits also the bytes it allocates per message (the garbage a
# device collects). And the live accounting message (lib/acct_json.py, built every 10 s) on its
# own. Prints one JSON line. The 32-bit WebAssembly port collects garbage only when a call from JS
# returns (docs/firmware.md), so there tools/bench_accounting32.mjs calls the steps one at a time
# (and its time per message has no collection in it).

import gc
import sys
import time

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, _here + "/../lib")
sys.path.insert(0, _here)

from hdlc import Assembler  # noqa: E402
from dlms import Decoder  # noqa: E402
from virtual_meter import VirtualMeter  # noqa: E402

_HOURS = 4
ROUNDS = 3  # best of: the machine is shared
_S = {"base": 1 << 29, "best": 1 << 29, "steps": True}  # what the steps keep between calls


def prepare():
    # the frames as one bytes object: the collector has one object to look at, not 7,000
    frames = [f for _, _, f in VirtualMeter("kaifa", "2026-03-10T06:00", seed=5).pushes(_HOURS * 3600 + 60, (1, 2, 3))]
    _S["n"] = len(frames)
    _S["stream"] = b"".join(frames)
    led = _S["led"] = [None]
    dec = Decoder(lambda rd: led[0] and led[0].reading(rd, 0))  # Kaifa: the meter's clock is in every frame
    _S["asm"] = Assembler(dec.apdu)


def mark():
    gc.collect()
    _S["mark"] = gc.mem_alloc()


def since_mark(key):
    gc.collect()
    _S[key] = gc.mem_alloc() - _S["mark"]


def load():
    # the accounting's modules, as the firmware imports them at the first message
    from ledger import Ledger
    import acct_json

    _S["Ledger"], _S["acct_json"] = Ledger, acct_json


def _feed():
    s = _S["stream"]
    t0 = time.ticks_us()
    _S["asm"].feed(s, len(s))
    return time.ticks_diff(time.ticks_us(), t0)


def decode_alone():
    _S["led"][0] = None
    _S["base"] = min(_S["base"], _feed())


def decode_into_a_ledger():
    _S["led"][0] = _S["Ledger"]()
    m0 = gc.mem_alloc()
    _S["best"] = min(_S["best"], _feed())
    _S["allocated"] = gc.mem_alloc() - m0  # all of it where nothing is collected within a call (32 bits)


def live():
    lg, aj = _S["led"][0], _S["acct_json"]
    _S["live_bytes"] = len("".join(aj.live(lg, lg.acc.totals(), hours=True)))
    t0 = time.ticks_us()
    for _ in range(10):
        "".join(aj.live(lg, lg.acc.totals(), hours=True))
    _S["live_us"] = time.ticks_diff(time.ticks_us(), t0) // 10


def result():
    n = _S["n"]
    return ('{"messages": %d, "hours": %d, "us_per_message": %d, "live_message_us": %d, "live_message_bytes": %d, '
            '"code_bytes": %d, "state_bytes": %d, "allocated_per_message": %s, "bits": %d}' % (
                n, len(_S["led"][0].tariff.today), (_S["best"] - _S["base"]) // n, _S["live_us"], _S["live_bytes"],
                _S["code"], _S["state"], _S["allocated"] // n if _S["steps"] else "null", 64 if sys.maxsize > 1 << 32 else 32))


def main():
    # the steps in one call: where gc.collect() collects within it (the unix port), and so may the
    # decode: its allocations are not all counted
    _S["steps"] = False
    prepare()
    mark()
    load()
    since_mark("code")
    for _ in range(ROUNDS):
        decode_alone()
        mark()
        decode_into_a_ledger()
        since_mark("state")
    live()
    print(result())


if __name__ == "__main__":
    main()
