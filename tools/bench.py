# bench.py Provides make bench: our decoder against amshan 2.1.1 on CPython, speed and heap use on MicroPython,
# then the whole firmware on the unix port (tools/bench_firmware.py): latency to MQTT and steady-state heap,
# the heap an update takes (tools/bench_update.py), and a request to the settings page's (tools/bench_setup.py);
# encrypted frames per runtime (tools/bench_gcm.py).
# MIT license
#
# A benchmark, not a test: it prints figures and writes build/bench.json, and fails only if a step cannot run.
# Input is the "corpus stream": every good HDLC frame of the Aidon, Kaifa and Kamstrup corpora, back to back;
# for P1 every corpus telegram with a CRC; for M-Bus the messages of the corpus stream in M-Bus segments.

import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "host_tests", "shims")]

from hdlc import Assembler  # noqa: E402
from dlms import Decoder  # noqa: E402
import p1  # noqa: E402
from han.hdlc import HdlcFrameReader  # noqa: E402  (amshan, installed by make bench)
from han.autodecoder import AutoDecoder  # noqa: E402

CHUNK = 64  # bytes per read, as from a UART; both decoders get the same chunks
MAKERS = ("aidon", "kaifa", "kamstrup")
ROUNDS = 20  # best of many short rounds: on a shared (virtual) CPU the least disturbed one is the true cost
ROUND_S = 0.1  # length of one round whatever the machine's speed: the whole run stays under 10 s
CORPUS = "host_tests/fixtures"  # the real meter frames, one JSON object a line; bench_mpy.py is told it too


def corpus_frames():
    # [(id, frame)]: the same selection as tools/bench_mpy.py
    out = []
    for m in MAKERS:
        with open(os.path.join(ROOT, CORPUS, m + ".jsonl")) as f:
            for o in map(json.loads, filter(str.strip, f)):
                if o["framing"] == "hdlc" and o["crc_ok"] and not o.get("negative_fixture"):
                    out.append((o["id"], bytes.fromhex(o["hex"])))
    return out


def ours(chunks, reps):
    # the firmware's path minus the ring: bytes in, the preallocated Reading filled per message
    dec = Decoder()
    asm = Assembler(dec.apdu)
    for _ in range(reps):
        for c in chunks:
            asm.feed(c, len(c))
    return dec.decoded, None


def ours_p1(chunks, reps):
    # P1 telegrams: assembler and decoder in one, fed the same way
    dec = p1.Decoder()
    for _ in range(reps):
        for c in chunks:
            dec.feed(c, len(c))
    return dec.frames_ok, None


def p1_stream():
    # the P1 telegrams with a CRC, each with the CR LF a meter sends after it (as tools/bench_mpy.py)
    with open(os.path.join(ROOT, CORPUS, "p1.jsonl")) as f:
        return [o["text"].encode() + b"\r\n" for o in map(json.loads, filter(str.strip, f)) if o["crc_ok"]]


def amshan(chunks, reps):
    # what an amshan user does (as its SmartMeterMessagePayloadProtocol + AutoDecoder): frames from
    # the reader, valid ones only, payload to AutoDecoder, which returns a dict of values
    reader = HdlcFrameReader()
    dec = AutoDecoder()
    ok, err = 0, None
    for _ in range(reps):
        for c in chunks:
            for frame in reader.read(c):
                try:
                    ok += bool(frame.is_valid and dec.decode_message_payload(frame.payload))
                except Exception as e:  # amshan raises (KeyError) on OBIS codes it has no name for
                    err = e
    return ok, err


def best_us(fns, chunks):
    # -> [(best µs per pass over the stream, frames decoded in one pass)] for each of fns.
    # Rounds alternate between fns so that both see the same machine: the ratio is the figure that matters
    ok, reps = [], []
    for fn in fns:
        t = time.perf_counter()
        ok.append(fn(chunks, 1)[0])  # also the warm-up
        reps.append(max(1, int(ROUND_S / (time.perf_counter() - t))))
    best = [float("inf")] * len(fns)
    for _ in range(ROUNDS):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            fn(chunks, reps[i])
            best[i] = min(best[i], (time.perf_counter() - t) / reps[i])
    return [(b * 1e6, k) for b, k in zip(best, ok)]


def micropython():
    # the venv's micropython sits next to this python (make runs $(VENV)/bin/python)
    exe = os.path.join(os.path.dirname(sys.executable), "micropython")
    r = subprocess.run([exe, "tools/bench_mpy.py", CORPUS], cwd=ROOT, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        sys.exit("tools/bench_mpy.py failed:\n" + r.stdout + r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def accounting():
    # tools/bench_accounting.py on the unix port (x64) and, a step per call, on the 32-bit WebAssembly port
    exe = os.path.join(os.path.dirname(sys.executable), "micropython")
    out = []
    for cmd in ([exe, "-X", "heapsize=32M", "tools/bench_accounting.py"], ["node", "tools/bench_accounting32.mjs"]):
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            sys.exit("tools/bench_accounting.py failed:\n" + r.stdout + r.stderr)
        out.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return out


def gcm():
    # tools/bench_gcm.py on the unix port (x64, cryptolib's AES) and on the 32-bit port (aes128.py's)
    exe = os.path.join(os.path.dirname(sys.executable), "micropython")
    out = []
    for cmd in ([exe, "tools/bench_gcm.py"], ["node", "tools/mpy32.mjs", "tools/bench_gcm.py"]):
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            sys.exit("tools/bench_gcm.py failed:\n" + r.stdout + r.stderr)
        out.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return out


def firmware():
    # tools/bench_firmware.py prints its own block, then its figures as JSON on the last line
    r = subprocess.run([sys.executable, "tools/bench_firmware.py", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        sys.exit("tools/bench_firmware.py failed:\n" + r.stdout + r.stderr)
    lines = r.stdout.strip().splitlines()
    print("\n".join(lines[:-1]))
    return json.loads(lines[-1])


def main():
    corpus = corpus_frames()
    frames = len(corpus)
    stream = b"".join(b for _, b in corpus)
    chunks = [stream[i : i + CHUNK] for i in range(0, len(stream), CHUNK)]
    print("corpus stream (%s): %d frames, %d bytes, fed in %d-byte chunks" % (CORPUS, frames, len(stream), CHUNK))

    (our_us, our_ok), (am_us, am_ok) = best_us((ours, amshan), chunks)
    if our_ok != frames:
        print("WARNING: our decoder decoded %d of %d frames" % (our_ok, frames))
    if am_ok != our_ok:
        print("WARNING: amshan decoded %d frames, ours %d; amshan fails on:" % (am_ok, our_ok))
        for fid, b in corpus:  # one frame at a time, untimed, to name them
            ok, err = amshan([b], 1)
            if not ok:
                print("  %s (%r)" % (fid, err))
    # per frame of the stream for both: a failed amshan decode still cost its time
    ours_pf, am_pf = our_us / frames, am_us / frames
    print("CPython %s" % sys.version.split()[0])
    print("  ours (Assembler + Decoder)                   %8.1f us/frame" % ours_pf)
    print("  amshan 2.1.1 (HdlcFrameReader + AutoDecoder) %8.1f us/frame" % am_pf)
    print("  ratio amshan / ours                          %8.1f x" % (am_pf / ours_pf))
    telegrams = p1_stream()
    p1_bytes = b"".join(telegrams)
    p1_chunks = [p1_bytes[i : i + CHUNK] for i in range(0, len(p1_bytes), CHUNK)]
    ((p1_us, p1_ok),) = best_us((ours_p1,), p1_chunks)
    print("  ours, P1 telegrams (p1.Decoder)              %8.1f us/telegram (%d telegrams, %d bytes)" % (p1_us / len(telegrams), p1_ok, len(p1_bytes)))

    mp = micropython()
    print("MicroPython %s (unix port)" % mp["micropython"])
    print("  RingBuffer -> Assembler -> Decoder           %8.1f us/frame" % mp["us_per_frame"])
    print("  heap allocated                               %8.1f bytes/frame" % mp["bytes_allocated_per_frame"])
    print("  RingBuffer -> p1.Decoder (P1 telegrams)      %8.1f us/telegram" % mp["p1"]["us_per_telegram"])
    print("  heap allocated                               %8.1f bytes/telegram" % mp["p1"]["bytes_allocated_per_telegram"])
    mb = mp["mbus"]
    print("  RingBuffer -> mbus.Assembler -> Decoder      %8.1f us/frame (%d frames, %d messages: the Norwegian ones in M-Bus segments)"
          % (mb["us_per_frame"], mb["frames"], mb["messages"]))
    print("  heap allocated                               %8.1f bytes/frame" % mb["bytes_allocated_per_frame"])
    if mp["frames"] != frames:
        print("WARNING: MicroPython decoded %d of %d frames" % (mp["frames"], frames))

    acc = accounting()
    for a in acc:
        print("MicroPython %d-bit: the accounting (Ledger), %d messages of a virtual Kaifa meter, %d hours" % (a["bits"], a["messages"], a["hours"]))
        print("  accounting per message                       %8d us (on top of the decode)" % a["us_per_message"])
        print("  live accounting message (%d bytes)           %8d us" % (a["live_message_bytes"], a["live_message_us"]))
        print("  its modules' code, compiled from source      %8d bytes" % a["code_bytes"])
        print("  its state after those hours                  %8d bytes" % a["state_bytes"])
        if a["allocated_per_message"] is not None:
            print("  allocated per message (garbage to collect)   %8d bytes" % a["allocated_per_message"])

    enc = gcm()
    for g in enc:
        print("MicroPython %d-bit: encrypted frames (AES-128-GCM, AES from %s), Assembler -> Decoder with the keys" % (g["bits"], g["aes"]))
        print("  %2d corpus frames + Norwegian ones encrypted  %8d us/frame (%d bytes on average)" % (g["frames"], g["us_per_frame"], g["bytes_per_frame"]))
        print("  Norwegian frames, SC 0x30 (tag checked)      %8d us/frame (%d bytes), %d us in plain" % (g["sealed_us_per_frame"], g["sealed_bytes_per_frame"], g["plain_us_per_frame"]))
        print("  heap allocated                               %8.1f bytes/frame" % g["bytes_allocated_per_frame"])

    cp = {"ours_us_per_frame": round(ours_pf, 2), "amshan_us_per_frame": round(am_pf, 2)}
    cp.update(ratio=round(am_pf / ours_pf, 2), frames=frames, ours_decoded=our_ok, amshan_decoded=am_ok)
    cp.update(p1_us_per_telegram=round(p1_us / len(telegrams), 2), p1_telegrams=p1_ok)
    fw = firmware()
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import bench_update

    update = bench_update.main()  # prints its own block
    import bench_setup

    setup = bench_setup.main()  # prints its own block
    out = {"cpython": cp, "micropython": mp, "firmware": fw, "accounting": acc, "update": update, "setup": setup, "python": sys.version,
           "amshan": "2.1.1"}
    out["gcm"] = enc
    out.update(corpus=CORPUS, stream_bytes=len(stream), chunk=CHUNK)
    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "bench.json"), "w") as f:
        json.dump(out, f, indent=2)
    print("figures written to build/bench.json")


main()
