# fastbytes.py Provides crc16() and copy(), the two byte loops of the hot path, allocation-free on every runtime.
# MIT license
#
# MicroPython with viper (devices, unix port): fastbytes_viper.py's loops over ptr8.
# MicroPython without viper (the WebAssembly port of `make test`): plain loops over a
# preallocated table, still allocation-free; chosen only when viper is refused (SyntaxError).
# CPython (PC tools and tests): binascii's C CRC and slice assignment; allocation is no concern there.

import sys
from array import array

VIPER = False  # True where the viper loops are in use

if sys.implementation.name == "micropython":

    def _make_table():
        # CRC-16/X.25 byte table: reflected polynomial 0x1021 (0x8408)
        t = array("H", bytes(512))
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
            t[i] = c
        return t

    _TABLE = _make_table()  # one table, for whichever loops are in use
    del _make_table  # needed once: its code goes

    try:
        import fastbytes_viper

        fastbytes_viper.TABLE = _TABLE  # its crc16 reads it at each call
        crc16, copy = fastbytes_viper.crc16, fastbytes_viper.copy
        VIPER = True
    except SyntaxError:  # "invalid micropython decorator": this port has no viper emitter

        def crc16(buf, start, end):
            # CRC-16/X.25 of buf[start:end]; `for .. in range()` compiles to a counter, no iterator
            t = _TABLE
            crc = 0xFFFF
            for i in range(start, end):
                crc = (crc >> 8) ^ t[(crc ^ buf[i]) & 0xFF]
            return crc ^ 0xFFFF

        def copy(dst, at, src, start, n):
            # dst[at:at+n] = src[start:start+n] without slice objects; forward, so at <= start may overlap
            for i in range(n):
                dst[at + i] = src[start + i]

else:
    from binascii import crc_hqx  # CRC-CCITT, unreflected: fed bit-reversed bytes it gives X.25 reversed

    def _reflect(b):
        r = 0
        for i in range(8):
            r |= (b >> i & 1) << (7 - i)
        return r

    _REVERSED = bytes(_reflect(b) for b in range(256))

    def crc16(buf, start, end):
        c = crc_hqx(bytes(buf[start:end]).translate(_REVERSED), 0xFFFF)
        return (_REVERSED[c & 0xFF] << 8 | _REVERSED[c >> 8]) ^ 0xFFFF

    def copy(dst, at, src, start, n):
        dst[at : at + n] = src[start : start + n]
