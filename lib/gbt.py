# gbt.py Provides Blocks: a DLMS message sent in general-block-transfer blocks (tag E0), joined.
# MIT license
#
# Landis+Gyr E450 meters (CH, AT) push a data-notification longer than their HDLC frame in blocks
# (protocol.md 4.4), each a whole APDU of its own in its own frame:
#   E0 | block-control | block-number u16 | block-number-ack u16 | A-XDR length | block data
# block-control bit 7: the last block; bit 6: streaming. Numbers count from 1. The data parts,
# joined, are the message (a 0F data-notification, or a ciphered one). dlms.Decoder hands every E0
# APDU here and decodes what add() completes.

from micropython import const
from fastbytes import copy
from counter import add

_TAG = const(0xE0)
_LAST = const(0x80)  # block-control: the last block
_HEAD = const(6)  # tag, control, block number, acknowledged number
_MESSAGE_MAX = const(1024)  # longest joined message: the E450's are about 350 bytes

_OK = const(0)  # axdr.OK, MALFORMED and UNKNOWN: what Decoder.apdu returns
_MALFORMED = const(1)
_UNKNOWN = const(2)
MALFORMED = const(-2)  # not a well-formed block: the length does not fill the APDU
MORE = const(-1)  # taken (or dropped, and counted): the message is not whole yet


class Blocks:
    def __init__(self, message_max=_MESSAGE_MAX):
        self.buf = bytearray(message_max)  # the message is joined here
        self._len = 0
        self._next = 0  # the block number the message under way needs; 0: none under way
        self._dropping = False  # the message under way outgrew self.buf
        self.blocks = 0  # well-formed blocks received; counters wrap at 2**30 (counter.py)
        self.messages = 0  # messages joined whole and handed on
        self.lost = 0  # messages dropped for a missing block
        self.oversize = 0  # messages longer than self.buf: dropped whole

    def take(self, decoder, src, start, end):
        # dlms.Decoder's handling of one E0 APDU: joined here, the whole message decoded by the
        # decoder when its last block comes; returns what Decoder.apdu returns
        if src is self.buf:  # blocks inside a joined message: no meter sends that
            decoder.unknown = add(decoder.unknown, 1)
            decoder._remember_unknown(_TAG, decoder.reading)
            return _UNKNOWN
        n = self.add(src, start, end)
        if n >= 0:
            return decoder.apdu(self.buf, 0, n)
        if n == MALFORMED:
            decoder.malformed = add(decoder.malformed, 1)
            return _MALFORMED
        return _OK  # taken; counted here

    def add(self, src, start, end):
        # one E0 APDU in src[start:end]; returns the joined message's length in self.buf when this
        # block completed it, else MORE or MALFORMED
        if end - start < _HEAD + 1 or src[start] != _TAG:
            return MALFORMED
        p = start + _HEAD
        n = src[p]
        p += 1
        if n == 0x81 and p < end:
            n = src[p]
            p += 1
        elif n == 0x82 and p + 1 < end:
            n = src[p] << 8 | src[p + 1]
            p += 2
        elif n >= 0x80:
            return MALFORMED
        if p + n != end:
            return MALFORMED
        self.blocks = add(self.blocks, 1)
        number = src[start + 2] << 8 | src[start + 3]
        if number == 1:
            if self._next:
                self.lost = add(self.lost, 1)  # the last message's end never came
            self._len = 0
            self._dropping = False
        elif number != self._next:
            if self._next:
                self.lost = add(self.lost, 1)
            self._next = 0  # nothing to join this block to
            return MORE
        k = self._len
        if k + n > len(self.buf):
            if not self._dropping:
                self.oversize = add(self.oversize, 1)
            self._dropping = True
        if not self._dropping:
            copy(self.buf, k, src, p, n)
            k += n
        self._len = k
        if not src[start + 1] & _LAST:
            self._next = number + 1 if number < 0xFFFF else 0
            return MORE
        self._next = 0
        if self._dropping:
            return MORE
        self.messages = add(self.messages, 1)
        return k
