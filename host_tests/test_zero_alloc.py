# test_zero_alloc.py Proves the UART-to-decoded-values path allocates nothing, on the MicroPython unix port.
# Shared module; under CPython the allocation checks are skipped (they mean nothing there).

import sys
import gc
import micropython
from ringbuf import RingBuffer
from hdlc import Assembler
from dlms import Decoder
from corpus import good_hdlc

if sys.implementation.name != "micropython":
    import pytest

    pytestmark = pytest.mark.skip(reason="gc.mem_alloc and heap_lock are MicroPython's")

_SMALL = 1 << 30  # ESP32 small ints are 31-bit: anything at or above this would be boxed on the heap


class _Path:
    # ring -> assembler -> decoder, with every buffer made up front
    def __init__(self):
        self.decoder = Decoder()
        self.assembler = Assembler(self.decoder.apdu)
        self.ring = RingBuffer()
        self.scratch = bytearray(64)
        self.chunks = []
        self.sizes = []
        data = b"".join(r["bytes"] for r in good_hdlc("aidon", "kaifa", "kamstrup"))
        self.frames = len(good_hdlc("aidon", "kaifa", "kamstrup"))
        i = 0
        size = 1
        while i < len(data):  # chunk sizes cycle through 1..64, as a UART IRQ would deliver them
            n = min(size, len(data) - i)
            self.chunks.append(bytearray(data[i : i + n]) + bytearray(64 - n))
            self.sizes.append(n)
            i += n
            size = size % 64 + 1

    def run(self):
        ring = self.ring
        scratch = self.scratch
        assembler = self.assembler  # not assembler.feed: naming a bound method allocates it
        sizes = self.sizes
        k = 0
        for chunk in self.chunks:
            ring.put(chunk, sizes[k])  # what the UART IRQ handler does
            k += 1
            n = ring.get(scratch)  # what the main loop does
            if n:
                assembler.feed(scratch, n)


def test_ring_assembler_decoder_allocate_nothing_after_warm_up():
    path = _Path()
    path.run()  # warm-up: first calls may intern names or grow nothing else
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    path.run()
    after = gc.mem_alloc()
    gc.enable()
    assert after - before == 0, "allocated %d bytes" % (after - before)
    assert path.decoder.decoded == 2 * path.frames


def test_ring_assembler_decoder_run_under_heap_lock():
    path = _Path()
    path.run()
    micropython.heap_lock()
    try:
        path.run()
    finally:
        micropython.heap_unlock()
    d = path.decoder
    assert d.decoded == 2 * path.frames and d.malformed == 0 and path.assembler.bad_fcs == 0


class _Trickle:
    # a UART stand-in: tick() lets up to 60 more bytes "arrive", readinto() hands them out
    def __init__(self, data):
        self.data = data
        self.pos = 0
        self.budget = 0

    def tick(self):
        self.budget = 60

    def readinto(self, buf, nbytes=-1):
        n = min(len(buf) if nbytes < 0 else nbytes, self.budget, len(self.data) - self.pos)
        if n <= 0:
            return None
        d = self.data
        p = self.pos
        for i in range(n):
            buf[i] = d[p + i]
        self.pos = p + n
        self.budget -= n
        return n


def test_polling_a_uart_allocates_nothing():
    data = b"".join(r["bytes"] for r in good_hdlc("kaifa"))
    path = _Path()
    ring = path.ring
    scratch = path.scratch
    assembler = path.assembler
    uart = _Trickle(data * 4)
    assert not ring.attach(uart)  # no irq(): the polling fallback
    micropython.heap_lock()
    try:
        while uart.pos < len(uart.data):
            uart.tick()
            ring.poll()
            n = ring.get(scratch)
            while n:
                assembler.feed(scratch, n)
                n = ring.get(scratch)
    finally:
        micropython.heap_unlock()
    assert path.decoder.decoded == 4 * len(good_hdlc("kaifa")) and ring.overflow == 0


def test_hot_path_integers_stay_below_2_30():
    path = _Path()
    path.run()
    for r in good_hdlc("aidon", "kaifa", "kamstrup"):
        rd = path.decoder.reading
        path.assembler.feed(r["bytes"], len(r["bytes"]))
        for f in range(len(rd.hi)):
            assert -_SMALL <= rd.hi[f] < _SMALL and 0 <= rd.lo[f] < 65536, r["id"]
    for v in (path.ring.received, path.ring.overflow, path.assembler.skipped, path.assembler.frames_ok):
        assert 0 <= v < _SMALL
