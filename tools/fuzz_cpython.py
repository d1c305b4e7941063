# fuzz_cpython.py Provides the coverage-guided half of `make fuzz`: atheris (libFuzzer) drives Assembler + Decoder under CPython.
# MIT license
#
# Usage: python tools/fuzz_cpython.py [--time S | --runs N] [--seed N] [--corpus DIR] [--crashes DIR] [-- libFuzzer flags]
#        python tools/fuzz_cpython.py --replay FILE...     re-run saved inputs (crash-* artifacts) with a traceback
#
# Each input is one recipe (see build()): a mode byte, an option byte, then the payload.
#   mode byte, bits 0-1: 0 the payload is raw stream bytes; 1 it is an APDU, wrapped here in one
#     CRC-valid HDLC frame; 2 the same in 2 to 5 segments (S bit); 3 it goes to Decoder.apdu
#     directly, in a buffer of its own length, and then in a frame. Wrapping after the mutation keeps
#     the CRCs right, so libFuzzer's byte mutations reach the DLMS decoder instead of dying at the FCS.
#   bit 2: Decoder(kamstrup_energy_in_wh=True); bit 3: an Assembler with smaller limits (frame_max
#     700, apdu_max 1024), so the oversize paths are reached.
#   option byte: address form (bits 0-2), segments (3-4), LLC header (6), control byte (7), and
#     where in the fixed table of chunk sizes (1..64) the feeding starts.
# The stream goes through the checked pipeline of tools/fuzz_mpy.py (Assembler -> Decoder in 1..64-
# byte chunks through a 64-byte scratch; the ring buffer is left to the MicroPython fuzzer, it only
# costs time here), then a good frame, which must decode. Any exception, counter that does not add
# up or good frame lost is a crash. Half the mutations are libFuzzer's, half fuzz_mpy.py's
# structure-aware ones.

import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(_HERE)
sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "host_tests", "shims"), os.path.join(ROOT, "host_tests"), _HERE]

import ticks  # noqa: E402  (host_tests/shims: time.ticks_* for lib/ on CPython)

ticks.install()

LIB = ("hdlc", "axdr", "obis", "reading", "meter_aidon", "meter_kaifa", "meter_kamstrup", "dlms", "aes128", "gcm")

try:
    import atheris
except ImportError:  # --replay and the tests' build() work without it
    atheris = None

if atheris is not None and "--replay" not in sys.argv:
    with atheris.instrument_imports(include=list(LIB)):
        for _m in LIB:
            __import__(_m)

import random  # noqa: E402
import fuzz_mpy as F  # noqa: E402  (uses the modules imported, and instrumented, above)

MODE_STREAM = 0  # payload fed as raw bytes
MODE_FRAME = 1  # payload is an APDU: one CRC-valid frame around it
MODE_SEGMENTS = 2  # payload is an APDU: CRC-valid segments (S bit) around it
MODE_APDU = 3  # payload handed to Decoder.apdu directly, then fed in a frame as well
_SIZES = None
_SMALL = {"frame_max": 700, "apdu_max": 1024}  # still larger than every probe frame
_PROBES = []  # (frame, template index): good frames to follow each input, built once
_TERM = b""
_STATS = {"inputs": 0, "probes_ok": 0, "excused": 0, "t0": time.monotonic(), "runs": -1, "time": -1}


def _sizes():
    global _SIZES
    if _SIZES is None:
        r = random.Random(7)
        _SIZES = bytearray(1 + r.getrandbits(6) for _ in range(4096))
    return _SIZES


def build(data):
    # the stream bytes a recipe stands for, and the APDU for Decoder.apdu (or None)
    if len(data) < 2:
        return bytes(data), None
    mode = data[0] & 3
    opt = data[1]
    payload = bytes(data[2:])
    if mode == MODE_STREAM:
        return payload, None
    address = F._ADDRESSES[opt & 7]
    control = 0x13 if opt & 0x80 else 0x03
    info = (F._LLC + payload) if opt & 0x40 else payload
    if mode == MODE_FRAME and len(info) <= 2047 - 7 - len(address):
        return F.frame(info, False, address, control), None
    if mode == MODE_APDU:
        return F.frame(info[: 2047 - 7 - len(address)], False, address, control), bytearray(payload)  # decrypted in place
    k = 2 + (opt >> 3 & 3)
    room = 2047 - 7 - len(address)
    step = max(1, min(room, (len(info) + k - 1) // k))
    pieces = [info[i : i + step] for i in range(0, len(info), step)] or [b""]
    return b"".join(F.frame(p, i < len(pieces) - 1, address, control) for i, p in enumerate(pieces)), None


def check(data):
    # runs one recipe; returns what went wrong ([] if nothing)
    stream, apdu = build(data)
    small = len(data) > 0 and data[0] & 8 != 0  # an assembler with smaller limits, as a board might set them
    c = F.Checked(_sizes(), ring=False, **(_SMALL if small else {}))
    c.ci = data[1] if len(data) > 1 else 0
    wh = len(data) > 0 and data[0] & 4 != 0
    c.decoder.kamstrup_energy_in_wh = wh  # Swedish Kamstrup energy in Wh
    if apdu is not None:
        c.apdu(apdu, 0, len(apdu))
    c.feed(stream, 0, len(stream))
    out = c.errors()
    global _TERM
    if not _PROBES:
        random.seed(1)
        _PROBES.extend(F.probe(1, i & 1) for i in range(32))
        _TERM = F.terminator()
    p, k = _PROBES[len(data) & 31]
    fp, maker, fp_wh = F._PROBE_WANT[k]
    r = c.probe(p, 0, len(p), 1, fp_wh if wh else fp, maker, _TERM, 0, len(_TERM))
    if r >= F.P_MISSING:
        out.append("the good frame after it: " + F.P_NAMES[r])
    elif r:
        _STATS["excused"] += 1
    else:
        _STATS["probes_ok"] += 1
    out.extend(c.errors())
    return out


def summary():
    return "%d inputs in %.0f s, %d good frames after them decoded, %d excused" % (
        _STATS["inputs"], time.monotonic() - _STATS["t0"], _STATS["probes_ok"], _STATS["excused"])


def test_one_input(data):
    errs = check(data)
    if errs:
        raise AssertionError("; ".join(errs))
    _STATS["inputs"] += 1
    n = _STATS["inputs"]
    if n & 0x3FFF == 0:
        print("fuzz_cpython: " + summary(), flush=True)
    if n == _STATS["runs"] or (_STATS["time"] >= 0 and n & 0x3F == 0 and time.monotonic() - _STATS["t0"] >= _STATS["time"]):
        # libFuzzer's own limits end the process without Python's atexit: stop here with a summary
        print("fuzz_cpython: OK " + summary(), flush=True)
        sys.stdout.flush()
        os._exit(0)


def custom_mutator(data, max_size, seed):
    # half libFuzzer's own mutations, half fuzz_mpy's: structure-aware on APDUs, frame-aware on streams
    random.seed(seed)
    if seed & 1 or len(data) < 3:
        return atheris.Mutate(data, max_size)
    mode = data[0] & 3
    payload = bytes(data[2:])
    try:
        if mode == MODE_STREAM:
            f = payload if payload[:1] == b"\x7e" and len(payload) > 12 else F._valid_frame()[0]
            out = random.choice(F._RAW_SCHEDULE)(f)
        else:
            t = F.Template("fuzz", payload, b"\x41\x08\x83", 0x13, False)
            out = F.mutate_apdu(payload, t)
    except Exception:  # noqa: BLE001  e.g. a stream that is no frame for r_header: let libFuzzer have it
        return atheris.Mutate(data, max_size)
    return (bytes(data[:2]) + bytes(out))[:max_size]


def seeds(corpus):
    # every corpus message, as APDU recipes and as raw frames; fuzz_regressions.jsonl inputs too
    os.makedirs(corpus, exist_ok=True)
    if os.listdir(corpus):
        return
    n = 0

    def put(b):
        nonlocal n
        with open(os.path.join(corpus, "seed-%04d" % n), "wb") as f:
            f.write(b)
        n += 1

    for t in F.TEMPLATES:
        opt = (0x40 if t.llc else 0) | (0x80 if t.control & 0x10 else 0)
        put(bytes((MODE_FRAME, opt)) + bytes(t.apdu))
        put(bytes((MODE_SEGMENTS, opt | 0x08)) + bytes(t.apdu))
        put(bytes((MODE_APDU, opt)) + bytes(t.apdu))
    for b in F.RAW_FRAMES:
        put(bytes((MODE_STREAM, 0)) + bytes(b))
    for r in regressions():
        put(bytes((MODE_STREAM, 0)) + r["bytes"])


def regressions():
    # the saved failing inputs, host_tests/fixtures/fuzz_regressions.jsonl
    from corpus import records

    return records("fuzz_regressions")


def replay(paths):
    import traceback

    bad = 0
    for p in paths:
        with open(p, "rb") as f:
            data = f.read()
        try:
            errs = check(data)
        except Exception:  # noqa: BLE001
            traceback.print_exc()
            errs = ["raised"]
        stream, apdu = build(data)
        print("%s: %s; stream %s%s" % (p, "; ".join(errs) or "ok", stream.hex(), " apdu " + apdu.hex() if apdu else ""))
        bad += bool(errs)
    return 1 if bad else 0


def main(argv):
    import argparse

    ap = argparse.ArgumentParser(description="coverage-guided fuzzing of Assembler + Decoder (atheris)")
    ap.add_argument("--time", type=int, default=120, help="seconds to fuzz (default 120)")
    ap.add_argument("--runs", type=int, default=-1, help="inputs to run instead of a time limit")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--corpus", default=os.path.join(ROOT, "build", "fuzz-corpus"))
    ap.add_argument("--crashes", default=os.path.join(ROOT, "build", "fuzz-crashes"), help="where failing inputs go")
    ap.add_argument("--replay", nargs="+", metavar="FILE")
    args, extra = ap.parse_known_args(argv[1:])
    F.setup(args.seed)
    if args.replay:
        return replay(args.replay)
    if atheris is None:
        print("fuzz_cpython: atheris is not installed (pip install -r requirements-dev.txt)")
        return 2
    seeds(args.corpus)
    crashes = args.crashes
    os.makedirs(crashes, exist_ok=True)
    lf = [argv[0], args.corpus, "-seed=%d" % args.seed, "-max_len=4200", "-timeout=10", "-rss_limit_mb=2048",
          "-artifact_prefix=" + os.path.join(crashes, "")]
    if args.runs >= 0:
        _STATS["runs"] = args.runs
    else:
        _STATS["time"] = args.time
    lf.extend(x for x in extra if x != "--")
    print("fuzz_cpython: atheris on %s, %s, corpus %s, crashes go to %s"
          % (", ".join(LIB), "%d runs" % args.runs if args.runs >= 0 else "%d s" % args.time, args.corpus, crashes), flush=True)
    _STATS["t0"] = time.monotonic()
    atheris.Setup(lf, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
