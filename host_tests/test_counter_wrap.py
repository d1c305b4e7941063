# test_counter_wrap.py Checks every hot-path counter wraps at 2**30 without allocating, even at the wrap itself.
# Shared: runs under pytest and under MicroPython; on the 32-bit runtime (tools/mpy32.mjs) any value
# of 2**30 or more would be a big int, so the counters are set just below the wrap and fed under heap_lock.

import micropython
from counter import add
from ringbuf import RingBuffer
from hdlc import Assembler
from dlms import Decoder
from corpus import good_hdlc, hdlc_frame

_MAX = 0x3FFFFFFF  # 2**30 - 1, the largest small int on a 32-bit port


def test_add_is_modulo_2_30_at_and_around_the_wrap():
    for x in (0, 1, 5, _MAX - 64, _MAX - 1, _MAX):
        for n in (0, 1, 2, 63, 64):
            want = x + n if x + n <= _MAX else x + n - _MAX - 1
            assert add(x, n) == want, (x, n)
    assert add(_MAX, _MAX) == _MAX - 1


def test_ring_counters_wrap_under_heap_lock():
    rb = RingBuffer(100)
    src = bytearray(range(64))
    out = bytearray(100)
    rb.received = _MAX - 2
    rb.overflow = _MAX - 5

    micropython.heap_lock()  # a big int anywhere below is a MemoryError on a 32-bit port
    try:
        rb.put(src, 10)  # received passes the wrap
        rb.get(out)
        rb.put(src, 64)
        rb.put(src, 64)  # 35 fit, 29 overflow: overflow passes the wrap
    finally:
        micropython.heap_unlock()
    assert rb.received == 7 + 64 + 35
    assert rb.overflow == 29 - 6


def _assembler_stream():
    # junk, a bad HCS, a frame too long for the assembler, a bad FCS, noise, then a good frame
    good = good_hdlc("kaifa")[0]["bytes"]
    bad_fcs = bytearray(good)
    bad_fcs[20] ^= 0xFF
    bad_hcs = bytearray(hdlc_frame(b"\xe6\xe7\x00\x0f\x00"))
    bad_hcs[6] ^= 0xFF
    oversize = b"\x7e\xa7\xff\x41\x08\x83\x13\x00\x00"  # states 2047 bytes
    return b"junk" + bytes(bad_hcs) + oversize + bytes(bad_fcs) + b"noise" + good


_ASSEMBLER_COUNTERS = ("frames_ok", "bad_hcs", "bad_fcs", "oversize", "skipped")


def test_assembler_counters_wrap_under_heap_lock():
    stream = _assembler_stream()
    plain = Assembler(lambda buf, start, end: None, frame_max=1024)
    plain.feed(stream, len(stream))
    counts = [getattr(plain, name) for name in _ASSEMBLER_COUNTERS]
    assert min(counts) >= 1, counts  # the stream moves every counter
    asm = Assembler(lambda buf, start, end: None, frame_max=1024)
    for name in _ASSEMBLER_COUNTERS:
        setattr(asm, name, _MAX)

    micropython.heap_lock()
    try:
        asm.feed(stream, len(stream))
    finally:
        micropython.heap_unlock()
    assert [getattr(asm, name) for name in _ASSEMBLER_COUNTERS] == [c - 1 for c in counts]


def test_decoder_counters_wrap_under_heap_lock():
    d = Decoder()
    good = good_hdlc("aidon")[0]["bytes"]
    asm = Assembler(d.apdu)
    asm.feed(good, len(good))
    encrypted = b"\xdb\x08"
    malformed = b"\x0f\x00"
    unknown = b"\x01\x00"
    for name in ("decoded", "malformed", "unknown", "encrypted", "no_key"):
        setattr(d, name, _MAX)

    micropython.heap_lock()
    try:
        asm.feed(good, len(good))
        d.apdu(encrypted, 0, len(encrypted))
        d.apdu(malformed, 0, len(malformed))
        d.apdu(unknown, 0, len(unknown))
    finally:
        micropython.heap_unlock()
    assert (d.decoded, d.malformed, d.unknown, d.encrypted, d.no_key) == (0, 0, 0, 0, 0)
