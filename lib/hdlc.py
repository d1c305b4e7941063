# hdlc.py Provides Assembler: checked HDLC type-3 frames out of a byte stream, segments joined, LLC removed.
# MIT license
#
# Frames are found by length, never by searching for the closing flag: there is no byte stuffing
# on HAN ports, so raw 7E and 7D bytes occur inside valid frames. See docs/decoder.md.

from micropython import const
from fastbytes import crc16, copy
from counter import add

_FLAG = const(0x7E)
_FRAME_MAX = const(2047)  # largest length the 11-bit format field can state
_APDU_MAX = const(2048)  # largest reassembled message
_MIN_LEN = const(10)  # format 2 + addresses 2 + control 1 + HCS 2 + info 1 + FCS 2
_ADDR_MAX = const(4)  # an HDLC address is 1 to 4 bytes
_SEGMENT = const(0x08)  # S bit in the format field's first byte


class Assembler:
    def __init__(self, on_apdu, frame_max=_FRAME_MAX, apdu_max=_APDU_MAX):
        self._on_apdu = on_apdu  # called as on_apdu(buf, start, end) for each whole APDU
        self._frame_max = frame_max
        self.win = bytearray(frame_max + 2)  # unparsed stream; a whole frame always fits
        self._n = 0
        self._need = 0  # bytes the window must hold before parsing can get further
        self.apdu = bytearray(apdu_max)  # segments are joined here
        self._apdu_len = 0
        self._joining = False  # a segmented message is under way
        self._dropping = False  # the message under way outgrew self.apdu
        self.frame_start = 0  # where the frame being delivered lies in self.win (for raw dumps)
        self.frame_end = 0
        self.frames_ok = 0  # counters wrap at 2**30 (counter.py): small ints on the ESP32
        self.bad_hcs = 0
        self.bad_fcs = 0
        self.oversize = 0
        self.skipped = 0

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
            q = w.find(b"\x7e", p, n)
            if q < 0:
                q = n
            self.skipped = add(self.skipped, q - p)  # bytes outside any frame, flags not counted
            p = q
            if n - p < 3:
                break
            f1 = w[p + 1]
            if f1 == _FLAG:  # a closing flag followed by an opening one
                p += 1
                continue
            length = (f1 & 7) << 8 | w[p + 2]
            if f1 & 0xF0 != 0xA0 or length < _MIN_LEN:
                self._reject(0)
                p += 1
                continue
            if length > self._frame_max:
                self.oversize = add(self.oversize, 1)
                self._reject(0)
                p += 1
                continue
            hl = _header_len(w, p + 1, n)  # format .. control
            if hl < 0 or p + 3 + hl > n:
                break  # header or HCS not received yet
            if hl == 0 or hl + 4 >= length or crc16(w, p + 1, p + 1 + hl) != w[p + 1 + hl] | w[p + 2 + hl] << 8:
                self.bad_hcs = add(self.bad_hcs, 1)  # most likely a 7E in line noise: drop just the flag
                self._reject(0)
                p += 1
                continue
            if p + length + 2 > n:
                self._need = length + 2  # the frame will start the window after compaction
                break
            end = p + 1 + length - 2  # FCS position
            if crc16(w, p + 1, end) != w[end] | w[end + 1] << 8:
                self.bad_fcs = add(self.bad_fcs, 1)
                self._reject(1)
                p += 1
                continue
            self.frames_ok = add(self.frames_ok, 1)
            self.frame_start = p
            self.frame_end = p + length + 2
            self._info(w, p + 3 + hl, end, f1 & _SEGMENT)
            p += length + 1  # the closing flag may open the next frame
        if p == 0 and n == len(w):
            p = 1  # cannot happen while a whole frame fits; never spin
        if p:
            copy(w, 0, w, p, n - p)
        self._n = n - p

    def _reject(self, lost):
        # only the flag is dropped: the bytes after it are searched again for the next frame,
        # and a lost frame cannot complete the segmented message that needed it
        if lost and self._joining:
            self._dropping = True

    def _info(self, w, start, end, more):
        if end - start >= 3 and w[start] == 0xE6 and w[start + 1] & 0xFE == 0xE6 and w[start + 2] == 0:
            start += 3  # LLC header; some meters repeat it on every segment
        if not more and not self._joining:
            self._on_apdu(w, start, end)
            return
        a = self.apdu
        k = self._apdu_len
        if not self._joining:
            self._joining = True
            self._dropping = False
            k = 0
        if k + end - start > len(a):
            if not self._dropping:
                self.oversize = add(self.oversize, 1)
            self._dropping = True
        if not self._dropping:
            copy(a, k, w, start, end - start)
            k += end - start
        self._apdu_len = k
        if not more:
            self._joining = False
            self._apdu_len = 0
            if not self._dropping:
                self._on_apdu(a, 0, k)
            self._dropping = False


def _header_len(w, p, n):
    # bytes from the format field to the control byte: -1 if not all received, 0 if malformed
    h = p + 2
    for _ in range(2):  # destination, then source address; the byte with LSB 1 ends each
        k = 0
        while True:
            if h >= n:
                return -1
            k += 1
            h += 1
            if w[h - 1] & 1:
                break
            if k == _ADDR_MAX:
                return 0
    if h >= n:
        return -1
    return h + 1 - p
