# fastbytes.py Provides crc16() and copy(), the two byte loops of the hot path, at native speed on either runtime.
# MIT license
#
# MicroPython (device and unix port): viper loops over ptr8, allocation-free.
# CPython (PC tools and tests): binascii's C CRC and slice assignment; allocation is no concern there.

import sys
from array import array


def _reflect(b):
    r = 0
    for i in range(8):
        r |= (b >> i & 1) << (7 - i)
    return r


if sys.implementation.name == "micropython":
    import micropython

    def _make_table():
        t = array("H", bytes(512))
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
            t[i] = c
        return t

    _TABLE = _make_table()

    @micropython.viper
    def crc16(buf, start: int, end: int) -> int:
        # CRC-16/X.25 of buf[start:end] (HDLC HCS and FCS): reflected 0x1021, init and xorout 0xFFFF
        p = ptr8(buf)
        t = ptr16(_TABLE)
        crc = 0xFFFF
        i = start
        while i < end:
            crc = (crc >> 8) ^ t[(crc ^ p[i]) & 0xFF]
            i += 1
        return crc ^ 0xFFFF

    @micropython.viper
    def copy(dst, at: int, src, start: int, n: int):
        # dst[at:at+n] = src[start:start+n] without the slice objects; forward, so at <= start may overlap
        d = ptr8(dst)
        s = ptr8(src)
        i = 0
        while i < n:
            d[at + i] = s[start + i]
            i += 1

else:
    from binascii import crc_hqx  # CRC-CCITT, unreflected: fed bit-reversed bytes it gives X.25 reversed

    _REVERSED = bytes(_reflect(b) for b in range(256))

    def crc16(buf, start, end):
        c = crc_hqx(bytes(buf[start:end]).translate(_REVERSED), 0xFFFF)
        return (_REVERSED[c & 0xFF] << 8 | _REVERSED[c >> 8]) ^ 0xFFFF

    def copy(dst, at, src, start, n):
        dst[at : at + n] = src[start : start + n]
