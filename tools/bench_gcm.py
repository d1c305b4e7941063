# bench_gcm.py Provides the GCM part of make bench: time and heap per encrypted frame, Assembler -> Decoder with the keys.
# MIT license
#
# Run on the unix port or the 32-bit one (tools/bench.py runs both):
#   micropython tools/bench_gcm.py      node tools/mpy32.mjs tools/bench_gcm.py
# Frames: the corpus' encrypted HDLC frames with their published keys (L+G, tag checked; Iskraemeco,
# encryption only), and the Aidon, Kaifa and Kamstrup corpus frames encrypted and authenticated
# (security control 0x30) as a meter does it. Each is timed as a whole frame to a Reading, and the
# same frame in plain beside it, so the difference is what the decryption costs. Prints one JSON line.

import sys
import gc
import json
import time

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
ROOT = _here + "/.."
sys.path.insert(0, ROOT + "/host_tests")
sys.path.insert(0, ROOT + "/lib")

from binascii import unhexlify  # noqa: E402
from hdlc import Assembler  # noqa: E402
from dlms import Decoder  # noqa: E402
from corpus import records, good_hdlc, hdlc_frame, info_of, glo_ciphered  # noqa: E402

KEY = b"bench-key-16-byt"
AUTH_KEY = b"bench-auth-key16"
ROUNDS = 7  # best of: on a shared (virtual) CPU the least disturbed round is the true cost
MAKERS = ("aidon", "kaifa", "kamstrup")


def pipelines():
    # [(name, assembler, decoder, frame, plain assembler, plain frame)]
    out = []
    for r in records("encrypted"):
        if r["framing"] != "hdlc":
            continue  # M-Bus framing is not the decoder's yet
        k = r["key"]
        ak = k.get("authentication_key")
        d = Decoder(key=unhexlify(k["encryption_key"]), auth_key=unhexlify(ak) if ak else None)
        out.append((r["id"], d, bytearray(r["bytes"]), None))
    for r in good_hdlc(*MAKERS):
        apdu = info_of(r["bytes"])[3:]
        d = Decoder(key=KEY, auth_key=AUTH_KEY)
        out.append((r["id"], d, bytearray(hdlc_frame(b"\xe6\xe7\x00" + glo_ciphered(apdu, KEY, AUTH_KEY))), bytearray(r["bytes"])))
    return [(n, Assembler(d.apdu), d, f, Assembler(Decoder().apdu) if p else None, p) for n, d, f, p in out]


def run(paths, reps):
    for _ in range(reps):
        for _, a, _, f, _, _ in paths:
            a.feed(f, len(f))


def run_plain(paths, reps):
    for _, _, _, _, a, f in paths:
        if a is not None:
            for _ in range(reps):
                a.feed(f, len(f))


def best_us(fn, paths, reps):
    best = 1 << 29
    for _ in range(ROUNDS):
        gc.collect()
        t0 = time.ticks_us()
        fn(paths, reps)
        best = min(best, time.ticks_diff(time.ticks_us(), t0))
    return best


def main():
    paths = pipelines()
    run(paths, 1)  # warm-up; every frame must come through
    bad = [n for n, _, d, _, _, _ in paths if d.encrypted != 1 or d.no_key or d.wrong_key]
    if bad:
        raise SystemExit("bench_gcm: not decrypted: %s" % bad)
    sealed = [p for p in paths if p[4] is not None]
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    run(paths, 1)
    b = gc.mem_alloc()
    gc.enable()
    reps = 3
    frames = len(paths) * reps
    us = best_us(run, paths, reps)
    us_sealed = best_us(run, sealed, reps)
    us_plain = best_us(run_plain, sealed, reps)
    size = sum(len(p[3]) for p in paths) / len(paths)
    sealed_size = sum(len(p[3]) for p in sealed) / len(sealed)
    out = {"bits": 32 if sys.maxsize == 0x7FFFFFFF else 64, "aes": "aes128.py" if "aes128" in sys.modules else "cryptolib"}
    out.update(frames=len(paths), bytes_per_frame=round(size), us_per_frame=us / frames)
    out.update(sealed_frames=len(sealed), sealed_bytes_per_frame=round(sealed_size), sealed_us_per_frame=us_sealed / (len(sealed) * reps))
    out.update(plain_us_per_frame=us_plain / (len(sealed) * reps), bytes_allocated_per_frame=(b - a) / len(paths))
    print(json.dumps(out))


main()
