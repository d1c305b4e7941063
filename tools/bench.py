# bench.py Provides make bench: our decoder against amshan 2.1.1 on CPython, then allocation and speed on MicroPython.
# MIT license
#
# A benchmark, not a test: it prints figures and writes build/bench.json; it fails only if a step cannot run.
# The input is the "corpus stream": every good HDLC frame of the Aidon, Kaifa and Kamstrup corpora, concatenated.

import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "host_tests", "shims")]

from hdlc import Assembler  # noqa: E402
from dlms import Decoder  # noqa: E402
from han.hdlc import HdlcFrameReader  # noqa: E402  (amshan, installed by make bench)
from han.autodecoder import AutoDecoder  # noqa: E402

CHUNK = 64  # bytes per read, as from a UART; the same chunks go to both decoders
MAKERS = ("aidon", "kaifa", "kamstrup")
ROUNDS = 5  # best of: the least disturbed round is the closest to the true cost
ROUND_S = 0.4  # target length of one round, so slow and fast machines stay under ~30 s in all


def corpus_frames():
    # [(id, frame bytes)]; the same selection as tools/bench_mpy.py
    out = []
    for m in MAKERS:
        with open(os.path.join(ROOT, "host_tests", "corpus", m + ".jsonl")) as f:
            for line in f:
                o = json.loads(line)
                if o["framing"] == "hdlc" and o["crc_ok"] and not o.get("negative_fixture"):
                    out.append((o["id"], bytes.fromhex(o["hex"])))
    return out


def amshan_failures(frames):
    # untimed: which frames amshan cannot decode, and why, for the warning
    bad = []
    for fid, b in frames:
        try:
            (frame,) = HdlcFrameReader().read(b)
            if not (frame.is_valid and AutoDecoder().decode_message_payload(frame.payload)):
                bad.append(fid + " (no result)")
        except Exception as e:
            bad.append("%s (%s %s)" % (fid, type(e).__name__, e))
    return bad


def ours(chunks, reps):
    # what the firmware does, minus the ring: bytes in, a filled Reading out per message
    dec = Decoder()
    asm = Assembler(dec.apdu)
    for _ in range(reps):
        for c in chunks:
            asm.feed(c, len(c))
    return dec.decoded, 0


def amshan(chunks, reps):
    # what an amshan user does (cf. its SmartMeterMessagePayloadProtocol): frames from the
    # reader, only valid ones kept, payload to AutoDecoder, which returns a dict of values
    reader = HdlcFrameReader()
    dec = AutoDecoder()
    ok = failed = 0
    for _ in range(reps):
        for c in chunks:
            for frame in reader.read(c):
                if not frame.is_valid:
                    failed += 1
                    continue
                try:  # amshan raises (KeyError) on some OBIS codes it has no name for
                    values = dec.decode_message_payload(frame.payload)
                except Exception:
                    values = None
                if values:
                    ok += 1
                else:
                    failed += 1
    return ok, failed


def best_us(fn, chunks):
    # returns (best µs per pass over the stream, frames decoded in one pass, failures in one pass)
    t = time.perf_counter()
    ok, failed = fn(chunks, 1)
    reps = max(1, int(ROUND_S / (time.perf_counter() - t)))
    best = None
    for _ in range(ROUNDS):
        t = time.perf_counter()
        fn(chunks, reps)
        dt = (time.perf_counter() - t) / reps
        best = dt if best is None or dt < best else best
    return best * 1e6, ok, failed


def micropython():
    exe = os.path.join(os.path.dirname(sys.executable), "micropython")  # the venv's, next to this python
    if not os.path.exists(exe):
        exe = os.path.join(ROOT, ".venv", "bin", "micropython")
    r = subprocess.run([exe, "tools/bench_mpy.py"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        sys.exit("bench_mpy.py failed:\n" + r.stdout + r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    corpus = corpus_frames()
    stream = b"".join(b for _, b in corpus)
    chunks = [stream[i : i + CHUNK] for i in range(0, len(stream), CHUNK)]
    frames = len(corpus)
    print("corpus stream: %d frames, %d bytes, fed in %d-byte chunks" % (frames, len(stream), CHUNK))

    our_us, our_ok, _ = best_us(ours, chunks)
    am_us, am_ok, am_failed = best_us(amshan, chunks)
    if our_ok != frames:
        print("WARNING: our decoder decoded %d of %d frames" % (our_ok, frames))
    if am_ok != our_ok:
        print("WARNING: amshan decoded %d frames, ours %d; amshan fails on:" % (am_ok, our_ok))
        for line in amshan_failures(corpus):
            print("  " + line)
    # per frame of the stream, for both: a failed amshan decode still cost its time
    our_pf, am_pf = our_us / frames, am_us / frames
    print("CPython %s" % sys.version.split()[0])
    print("  ours (Assembler + Decoder)                   %8.1f us/frame" % our_pf)
    print("  amshan 2.1.1 (HdlcFrameReader + AutoDecoder) %8.1f us/frame" % am_pf)
    print("  ratio amshan / ours                          %8.1f x" % (am_pf / our_pf))

    mp = micropython()
    print("MicroPython %s (unix port)" % mp["micropython"])
    print("  RingBuffer -> Assembler -> Decoder           %8.1f us/frame" % mp["us_per_frame"])
    print("  heap allocated                               %8.1f bytes/frame" % mp["bytes_allocated_per_frame"])
    if mp["frames"] != frames:
        print("WARNING: MicroPython decoded %d of %d frames" % (mp["frames"], frames))

    result = {
        "cpython": {
            "ours_us_per_frame": round(our_pf, 2),
            "amshan_us_per_frame": round(am_pf, 2),
            "ratio": round(am_pf / our_pf, 2),
            "frames": frames,
            "ours_decoded": our_ok,
            "amshan_decoded": am_ok,
            "amshan_failed": am_failed,
        },
        "micropython": mp,
        "stream_bytes": len(stream),
        "chunk": CHUNK,
        "python": sys.version,
        "amshan": "2.1.1",
    }
    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "bench.json"), "w") as f:
        json.dump(result, f, indent=2)
    print("figures written to build/bench.json")


main()
