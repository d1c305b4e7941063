# test_framers.py Checks which frame readers the app feeds: every kind the line may carry on "auto" until one passes, then that one alone; none allocates.
# Shared: runs under pytest and under the MicroPython unix port (mpy_runner.py).

import gc
import sys

import framers
import micropython
from corpus import good_hdlc, good_p1, records
from diagnosis import frame_counts
from dlms import Decoder
from hdlc import Assembler
from ringbuf import RingBuffer
from serial_port import SerialChoice

_2400 = (2400, "8E1", False)
_P1 = (115200, "8N1", True)


class _App:
    # what framers.py reads and sets of lib/app.py's App
    def __init__(self, setting, line):
        self.decoder = Decoder(self.on_reading)
        self.assembler = Assembler(self.decoder.apdu)
        self.long_frames = None
        self.p1 = None
        self.framers = ()
        self.serial = SerialChoice(setting, [line], "/tmp/han-test-framers.json", 0)
        self.readings = 0
        self.logged = []
        framers.use(self, setting)

    def on_reading(self, rd):
        self.readings += 1

    def log(self, text):
        self.logged.append(text)

    def frames_ok(self):
        return sum(f.frames_ok for f in self.framers)

    def feed(self, data):
        buf = bytearray(data)
        for f in self.framers:
            f.feed(buf, len(buf))


def test_a_maker_setting_reads_hdlc_alone_and_loads_no_other_reader():
    app = _App("kaifa", _2400)
    assert app.protocol == "hdlc" and app.framers == (app.assembler,) and app.long_frames is None and app.p1 is None
    assert "mbus" not in sys.modules and "p1" not in sys.modules
    assert framers.protocol("mbus") == "mbus" and framers.protocol("p1") == "p1" and framers.protocol("auto") is None


def test_auto_at_2400_tries_hdlc_and_m_bus_then_keeps_the_kind_that_passed():
    app = _App("auto", _2400)
    assert app.protocol is None and len(app.framers) == 2 and app.long_frames is not None and app.p1 is None
    app.feed(good_hdlc("kaifa")[0]["bytes"])
    assert app.frames_ok() == 1 and app.readings == 1
    framers.found(app)
    assert app.protocol == "hdlc" and app.framers == (app.assembler,) and app.long_frames is None
    assert "mbus" not in sys.modules  # its code dropped with the reader
    assert app.logged == ["serial: HDLC frames at 2400 8E1"]
    counts = frame_counts(app)
    assert counts == {"ok": 1, "bad_hcs": 0, "bad_fcs": 0, "oversize": 0, "skipped_bytes": 0}


def test_auto_at_115200_also_reads_p1_and_keeps_it_once_a_telegram_passes():
    app = _App("auto", _P1)
    assert len(app.framers) == 3 and app.p1 is not None
    app.feed(good_p1()[0]["bytes"])
    assert app.frames_ok() == 1 and app.readings == 1
    framers.found(app)
    assert app.protocol == "p1" and app.framers == (app.p1,) and app.long_frames is None
    assert app.logged == ["serial: P1 frames at 115200 8N1 inverted"]
    counts = frame_counts(app)
    assert counts["ok"] == 1 and counts["bad_fcs"] == 0 and counts["cut"] == 0
    app.serial.order = [_2400]  # a new meter.serial: a maker's name
    framers.use(app, "kaifa")
    assert app.framers == (app.assembler,) and app.p1 is None and "p1" not in sys.modules


def test_while_auto_searches_every_reader_gets_the_bytes_and_nothing_is_allocated():
    if sys.implementation.name != "micropython":
        import pytest

        pytest.skip("gc.mem_alloc and heap_lock are MicroPython's")
    app = _App("auto", _P1)
    data = good_hdlc("kaifa")[0]["bytes"] + records("mbus")[0]["bytes"] + good_p1()[0]["bytes"]
    pieces = []
    for i in range(0, len(data), 50):  # as the UART IRQ delivers them, each in a buffer made up front
        piece = bytearray(64)
        n = min(50, len(data) - i)
        piece[:n] = data[i : i + n]
        pieces.append((piece, n))
    ring = RingBuffer()
    dst = bytearray(64)

    def run():
        for piece, n in pieces:
            ring.put(piece, n)  # the UART IRQ
            ring.drain(dst, app.framers)  # App.feed_uart

    run()  # warm-up
    gc.collect()
    micropython.heap_lock()
    try:
        run()
    finally:
        micropython.heap_unlock()
    assert app.assembler.frames_ok == 2 and app.long_frames.frames_ok == 4 and app.p1.frames_ok == 2  # the M-Bus message: 2 frames
    assert app.readings == 4 and app.decoder.no_key == 2  # the HDLC list and the telegram; the M-Bus one wants a key
