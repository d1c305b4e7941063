# bench_accounting.py Provides the accounting's part of make bench: its cost per message (µs) and its heap, on MicroPython (x64 and 32 bits).
# MIT license
#
# Run with the unix port or the 32-bit one (tools/bench.py does both):
#   micropython tools/bench_accounting.py        node tools/mpy32.mjs tools/bench_accounting.py
# Four hours of a virtual Kaifa meter (lists 1, 2, 3) are decoded once with no accounting and once
# into a Ledger, as the firmware feeds it: the difference is the accounting's time per message. The
# heap: the accounting's modules (compiled from source here: the .mpy a device runs is what
# host_tests/test_heap_budget32.py measures) and its state after those hours, after gc.collect();
# and the live accounting message (lib/acct_json.py, built every 10 s) on its own. Prints one JSON line.

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
_ROUNDS = 3  # best of: the machine is shared


def _frames():
    vm = VirtualMeter("kaifa", "2026-03-10T06:00", seed=5)
    return [bytes(f) for _, _, f in vm.pushes(_HOURS * 3600 + 60, (1, 2, 3))]


def _feed(asm, frames):
    t0 = time.ticks_us()
    for f in frames:
        asm.feed(f, len(f))
    return time.ticks_diff(time.ticks_us(), t0)


def main():
    frames = _frames()
    gc.collect()
    before = gc.mem_alloc()
    from ledger import Ledger
    import acct_json

    gc.collect()
    code = gc.mem_alloc() - before
    base = best = 1 << 29
    led = [None]
    dec = Decoder(lambda rd: led[0] and led[0].reading(rd, 0))  # Kaifa: the meter's clock is in every frame
    asm = Assembler(dec.apdu)
    for _ in range(_ROUNDS):
        led[0] = None
        gc.collect()
        base = min(base, _feed(asm, frames))
        gc.collect()
        m0 = gc.mem_alloc()
        led[0] = Ledger()
        best = min(best, _feed(asm, frames))
        gc.collect()
        state = gc.mem_alloc() - m0
    n = len(frames)
    lg = led[0]
    live = "".join(acct_json.live(lg, lg.acc.totals(), hours=True))
    t0 = time.ticks_us()
    for _ in range(10):
        "".join(acct_json.live(lg, lg.acc.totals(), hours=True))
    live_us = time.ticks_diff(time.ticks_us(), t0) // 10
    bits = 64 if sys.maxsize > 1 << 32 else 32
    # the 32-bit WebAssembly port collects only between calls from JS (docs/firmware.md): within this one
    # call nothing is freed, so its state figure would be all the garbage too
    print('{"messages": %d, "hours": %d, "us_per_message": %d, "live_message_us": %d, "live_message_bytes": %d, '
          '"code_bytes": %d, "state_bytes": %s, "bits": %d}' % (
              n, len(lg.tariff.today), (best - base) // n, live_us, len(live), code, state if bits == 64 else "null", bits))


main()
