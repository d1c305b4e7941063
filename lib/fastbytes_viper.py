# fastbytes_viper.py Provides crc16() and copy() as viper loops over ptr8: the device's fast path, for fastbytes.py.
# MIT license
#
# Only fastbytes.py imports this. A port built without viper (the WebAssembly one) refuses the
# decorator at compile time with SyntaxError, and fastbytes.py then uses its plain loops.

import micropython

TABLE = None  # the CRC-16/X.25 byte table: fastbytes.py builds it once and sets it here


@micropython.viper
def crc16(buf, start: int, end: int) -> int:
    # CRC-16/X.25 of buf[start:end] (HDLC HCS and FCS): reflected 0x1021, init and xorout 0xFFFF
    p = ptr8(buf)
    t = ptr16(TABLE)
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
