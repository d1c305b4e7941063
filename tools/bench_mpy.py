# bench_mpy.py Provides the MicroPython half of make bench: time and heap use per frame of ring -> assembler -> decoder, per P1 telegram and per M-Bus message.
# MIT license
#
# Run with the unix port (tools/bench.py does): micropython tools/bench_mpy.py [corpus dir from the repo root]
# Prints one JSON line. No os.path on MicroPython, so paths are built with string operations.

import sys
import gc
import json
import time

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
ROOT = _here + "/.."
sys.path.insert(0, ROOT + "/lib")
sys.path.insert(0, ROOT + "/host_tests")  # corpus.py: the M-Bus frame builder

from ringbuf import RingBuffer  # noqa: E402  (lib/ has to be on sys.path first)
from hdlc import Assembler  # noqa: E402
from dlms import Decoder  # noqa: E402
import p1  # noqa: E402
import mbus  # noqa: E402

CHUNK = 64  # what the UART handler moves at a time on the device
MAKERS = ("aidon", "kaifa", "kamstrup")
REPS = 5  # passes over the corpus per timing round (about 40 ms)
ROUNDS = 30  # best of many short rounds: on a shared (virtual) CPU the least disturbed one is the true cost
CORPUS = sys.argv[1] if len(sys.argv) > 1 else "host_tests/fixtures"  # bench.py passes the one it read


def corpus_stream(makers=MAKERS):
    # the same selection as tools/bench.py: good HDLC frames only, concatenated; or the P1
    # telegrams with a CRC, each with the CR LF a meter sends after it
    out = bytearray()
    for m in makers:
        with open(ROOT + "/" + CORPUS + "/" + m + ".jsonl") as f:
            for line in f:
                if not line.strip():
                    continue
                o = json.loads(line)
                if o["framing"] == "hdlc" and o["crc_ok"] and not o.get("negative_fixture"):
                    out += bytes.fromhex(o["hex"])
                elif o["framing"] == "p1" and o["crc_ok"]:
                    out += o["text"].encode() + b"\r\n"
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


def measure(stream, dec, asm):
    # -> (messages in one pass, best µs per pass, bytes allocated in one pass, ring overflow)
    # slices allocate, so every chunk is cut here, before anything is measured
    chunks = [bytearray(stream[i : i + CHUNK]) for i in range(0, len(stream), CHUNK)]
    rb = RingBuffer()
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

    best = 1 << 29  # µs: far above any round, and still a small int
    for _ in range(ROUNDS):
        gc.collect()
        t0 = time.ticks_us()
        run(chunks, rb, asm, scratch, REPS)
        best = min(best, time.ticks_diff(time.ticks_us(), t0))
    return frames, best, b - a, rb.overflow


def main():
    stream = corpus_stream()
    dec = Decoder()
    asm = Assembler(dec.apdu)
    frames, best, allocated, overflow = measure(stream, dec, asm)
    out = {"frames": frames, "us_per_frame": best / (REPS * frames), "bytes_allocated_per_frame": allocated / frames}
    out.update(bytes_in=len(stream), bad_fcs=asm.bad_fcs, bad_hcs=asm.bad_hcs, overflow=overflow)
    stream = corpus_stream(("p1",))
    dec = p1.Decoder()  # assembler and decoder in one: the same feed()
    n, best, allocated, overflow = measure(stream, dec, dec)
    out["p1"] = {"telegrams": n, "us_per_telegram": best / (REPS * n), "bytes_allocated_per_telegram": allocated / n,
                 "bytes_in": len(stream), "bad_crc": dec.bad_crc, "overflow": overflow}
    from corpus import info_of, mbus_frames

    hdlc_stream = corpus_stream()
    stream = bytearray()
    i = frames = 0
    while i < len(hdlc_stream):  # each Norwegian message in M-Bus segments of 250 bytes, as an Austrian meter sends
        n = ((hdlc_stream[i + 1] & 7) << 8 | hdlc_stream[i + 2]) + 2
        apdu = info_of(hdlc_stream[i : i + n])[3:]
        stream += mbus_frames(apdu)
        frames += (len(apdu) + 249) // 250
        i += n
    dec = Decoder()
    asm = mbus.Assembler(dec.apdu)
    n, best, allocated, overflow = measure(stream, dec, asm)
    out["mbus"] = {"messages": n, "frames": frames, "us_per_frame": best / (REPS * frames), "us_per_message": best / (REPS * n),
                   "bytes_allocated_per_frame": allocated / frames, "bytes_in": len(stream), "bad_checksum": asm.bad_checksum,
                   "overflow": overflow}
    out["micropython"] = version()
    print(json.dumps(out))


main()
