# mbus.py Provides Assembler: checked M-Bus long frames out of a byte stream, DLMS segments joined.
# MIT license
#
# Austrian and Polish meters (Kaifa MA309, Sagemcom T210-D) push DLMS in M-Bus long frames
# (EN 13757-2, protocol.md 6.3): 68 L L 68 | C A CI STSAP DTSAP | data | CS 16, with L counting C to
# the last data byte and CS their sum mod 256. The CI field carries the DLMS transport's
# segmentation: bit 4 "last segment", bits 3-0 the segment number (10 alone; 00 01 .. 1n). A
# message longer than one frame's 250 data bytes comes in segments whose data parts, joined, are
# the APDU. Some meters send frames of more than 255 bytes with L wrapped (68 01 01 68 for 257):
# an L too small to hold C A CI STSAP DTSAP is read as L + 256.
# feed(src, n) is hdlc.Assembler's, so the app can put this in the assembler's place.

from micropython import const
from fastbytes import copy
from counter import add

_START = const(0x68)
_STOP = const(0x16)
_HEAD = const(5)  # C A CI STSAP DTSAP: the bytes of L before the DLMS data
_WRAP = const(256)  # an L below _HEAD was sent as L + 256 (wrapped in its byte)
_FRAME_MAX = const(4 + _HEAD - 1 + _WRAP + 2)  # the longest frame: wrapped L of 260, with 68 L L 68 and CS 16
_APDU_MAX = const(1024)  # longest message joined from segments: real ones reach about 550 bytes
_LAST = const(0x10)  # CI bit: the last (or only) segment
_SEQ = const(0x0F)  # CI bits: the segment number
_NOT_SEGMENT = const(0xE0)  # CI bits a DLMS segment leaves 0 (other CIs are M-Bus application data)


class Assembler:
    def __init__(self, on_apdu, apdu_max=_APDU_MAX):
        self._on_apdu = on_apdu  # called as on_apdu(buf, start, end) for each whole APDU
        self.win = bytearray(_FRAME_MAX)  # unparsed stream; a whole frame always fits
        self._n = 0
        self._need = 0  # bytes the window must hold before parsing can get further
        self.apdu = bytearray(apdu_max)  # segments are joined here
        self._apdu_len = 0
        self._next = -1  # the segment number the message under way needs next; -1: none under way
        self._dropping = False  # the message under way outgrew self.apdu
        self.frame_start = 0  # where the frame being delivered lies in self.win (for raw dumps)
        self.frame_end = 0
        self.frames_ok = 0  # counters wrap at 2**30 (counter.py): small ints on the ESP32
        self.bad_checksum = 0  # frames whose checksum or stop byte is wrong: dropped
        self.oversize = 0  # messages longer than self.apdu: dropped whole
        self.bad_sequence = 0  # segmented messages dropped for a missing segment
        self.other_ci = 0  # good frames that carry no DLMS segment (another CI): ignored
        self.skipped = 0  # bytes outside any frame

    def feed(self, src, n):
        # take src[0:n]; calls on_apdu for every complete message found
        w = self.win
        i = 0
        while i < n:
            k = self._n
            m = len(w) - k
            if m > n - i:
                m = n - i
            copy(w, k, src, i, m)
            self._n = k + m
            i += m
            if self._n >= self._need:
                self._parse()

    def _parse(self):
        w = self.win
        n = self._n
        p = 0
        self._need = 0
        while True:
            q = w.find(b"\x68", p, n)
            if q < 0:
                q = n
            self.skipped = add(self.skipped, q - p)
            p = q
            if n - p < 4:
                break
            length = w[p + 1]
            if w[p + 3] != _START or w[p + 2] != length:
                p += 1  # a 68 in the data, or line noise: search on from the next byte
                self.skipped = add(self.skipped, 1)
                continue
            if length < _HEAD:
                length += _WRAP
            if p + length + 6 > n:
                self._need = length + 6  # the frame will start the window after compaction
                break
            end = p + 4 + length  # the checksum's position
            s = 0
            for i in range(p + 4, end):
                s += w[i]
            if s & 0xFF != w[end] or w[end + 1] != _STOP:
                self.bad_checksum = add(self.bad_checksum, 1)
                p += 1  # only the 68 is dropped: the next frame may start inside this one's bytes
                self.skipped = add(self.skipped, 1)
                continue
            self.frames_ok = add(self.frames_ok, 1)
            self.frame_start = p
            self.frame_end = end + 2
            self._segment(w, p + 4 + _HEAD, end, w[p + 6])
            p = end + 2
        if p == 0 and n == len(w):
            p = 1  # cannot happen while a whole frame fits; never spin
        if p:
            copy(w, 0, w, p, n - p)
        self._n = n - p

    def _segment(self, w, start, end, ci):
        # a lost or broken frame needs no flag of its own: the segment numbers show the gap
        if ci & _NOT_SEGMENT:
            self.other_ci = add(self.other_ci, 1)
            return
        seq = ci & _SEQ
        if seq == 0:
            if self._next >= 0:  # a new message began before the last one ended
                self.bad_sequence = add(self.bad_sequence, 1)
            self._apdu_len = 0
            self._dropping = False
            if ci & _LAST:
                self._next = -1
                self._on_apdu(w, start, end)  # a message in one frame: straight from the window
                return
        elif seq != self._next:
            if self._next >= 0:
                self.bad_sequence = add(self.bad_sequence, 1)
            self._next = -1  # the rest of a message whose start was lost: nothing to join it to
            return
        a = self.apdu
        k = self._apdu_len
        if k + end - start > len(a):
            if not self._dropping:
                self.oversize = add(self.oversize, 1)
            self._dropping = True
        if not self._dropping:
            copy(a, k, w, start, end - start)
            k += end - start
        self._apdu_len = k
        if not ci & _LAST:
            self._next = (seq + 1) & _SEQ
            return
        self._next = -1
        if not self._dropping:
            self._on_apdu(a, 0, k)
