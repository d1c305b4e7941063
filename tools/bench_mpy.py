# bench_mpy.py Provides the MicroPython half of make bench: time and heap use per frame of ring -> assembler -> decoder.
# MIT license
#
# Run with the unix port (tools/bench.py does): micropython tools/bench_mpy.py
# Prints one JSON line. No os.path on MicroPython, so paths are built with string operations.

import sys
import gc
import json
import time

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
ROOT = _here + "/.."
sys.path.insert(0, ROOT + "/lib")

from ringbuf import RingBuffer  # noqa: E402  (lib/ has to be on sys.path first)
from hdlc import Assembler  # noqa: E402
from dlms import Decoder  # noqa: E402

CHUNK = 64  # what the UART handler moves at a time on the device
MAKERS = ("aidon", "kaifa", "kamstrup")
REPS = 20  # passes over the corpus per timing round
ROUNDS = 5  # best of: the unix port shares the PC with other work


def corpus_stream():
    # the same selection as tools/bench.py: good HDLC frames only, concatenated
    out = bytearray()
    for m in MAKERS:
        with open(ROOT + "/host_tests/corpus/" + m + ".jsonl") as f:
            for line in f:
                o = json.loads(line)
                if o["framing"] == "hdlc" and o["crc_ok"] and not o.get("negative_fixture"):
                    out += bytes.fromhex(o["hex"])
    return out


def run(chunks, rb, asm, scratch, reps):
    # the measured path. A function, not module level: module-level names are dict entries
    # and storing to them can allocate, which would be charged to the decoder
    for _ in range(reps):
        for c in chunks:
            rb.put(c, len(c))
            n = rb.get(scratch)
            asm.feed(scratch, n)


def version():
    v = sys.implementation.version  # (1, 29, 0, 'preview') on a preview build
    s = "%d.%d.%d" % v[:3]
    return s + "-" + v[3] if len(v) > 3 and v[3] else s


def main():
    stream = corpus_stream()
    # slices allocate, so every chunk is cut here, before anything is measured
    chunks = [bytearray(stream[i : i + CHUNK]) for i in range(0, len(stream), CHUNK)]
    rb = RingBuffer()
    dec = Decoder()
    asm = Assembler(dec.apdu)
    scratch = bytearray(CHUNK)

    run(chunks, rb, asm, scratch, 1)  # warm up; also counts the frames in one pass
    frames = dec.decoded

    # allocation: one pass with the collector off, so mem_alloc only grows
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    run(chunks, rb, asm, scratch, 1)
    b = gc.mem_alloc()
    gc.enable()

    best = None
    for _ in range(ROUNDS):
        gc.collect()
        t0 = time.ticks_us()
        run(chunks, rb, asm, scratch, REPS)
        dt = time.ticks_diff(time.ticks_us(), t0)
        if best is None or dt < best:
            best = dt

    out = {
        "frames": frames,
        "bytes_in": len(stream),
        "us_per_frame": best / (REPS * frames),
        "bytes_allocated_per_frame": (b - a) / frames,
        "decoded_total": dec.decoded,
        "bad_fcs": asm.bad_fcs,
        "bad_hcs": asm.bad_hcs,
        "overflow": rb.overflow,
        "micropython": version(),
    }
    print(json.dumps(out))


main()
