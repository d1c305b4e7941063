# han_encode.py Provides encode(): HAN frames (HDLC type 3, DLMS data-notification) in each Norwegian maker's list layouts.
# MIT license
#
# The layouts, types and scalers are those the meters send (../shared/docs/protocol.md §5, checked
# byte for byte against real frames in host_tests/test_virtual_meter.py). Values go in as the
# meter's raw integers, in the maker's units (see UNITS). Runs on CPython and MicroPython alike.

# maker: (HDLC destination+source address, control byte, invoke-id-and-priority)
_HDLC = {
    "aidon": (b"\x41\x08\x83", 0x13, b"\x40\x00\x00\x00"),
    "landisgyr": (b"\x41\x08\x83", 0x13, b"\x40\x00\x00\x00"),
    "kaifa": (b"\x01\x02\x01", 0x10, b"\x40\x00\x00\x00"),
    "kamstrup": (b"\x2b\x21", 0x13, b"\x00\x00\x00\x00"),
}

# maker: decimal exponent of the raw current, voltage and energy integers (power is always W/var)
UNITS = {
    "aidon": (-1, -1, 1),  # in-frame scalers: 0.1 A, 0.1 V, 10 Wh
    "landisgyr": (-2, -1, 0),  # 0.01 A, 0.1 V; energy scaler 0 is a guess: no E350 list 3 was ever captured
    "kaifa": (-3, -1, 0),  # no scalers in the frame (KFM_001 sheet): mA, 0.1 V, Wh
    "kamstrup": (-2, 0, 1),  # no scalers in the frame (HAN-NVE): 0.01 A, V, 10 Wh
}

_W, _VAR, _WH, _VARH, _A, _V = 0x1B, 0x1D, 0x1E, 0x20, 0x21, 0x23  # COSEM unit codes


def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
        t.append(c)
    return t


_TABLE = _crc_table()


def crc16(data):
    # CRC-16/X.25 (reflected 0x1021, init and final xor 0xFFFF); its own table rather than
    # lib/fastbytes, so a fault there cannot hide in frames checked by the same code
    crc = 0xFFFF
    t = _TABLE
    for b in data:
        crc = (crc >> 8) ^ t[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFF


def hdlc(info, address, control):
    # a single-segment type-3 frame: flag, format, addresses, control, HCS, info, FCS, flag
    n = 2 + len(address) + 1 + 2 + len(info) + 2
    head = bytes([0xA0 | n >> 8, n & 0xFF]) + address + bytes([control])
    hcs = crc16(head)
    body = head + bytes([hcs & 0xFF, hcs >> 8]) + info
    fcs = crc16(body)
    return b"\x7e" + body + bytes([fcs & 0xFF, fcs >> 8]) + b"\x7e"


def datetime(y, mo, d, wd, h, mi, s, deviation=0x8000, status=0):
    # the 12-byte COSEM date-time; hundredths not specified (FF) as every Norwegian meter sends
    return bytes([y >> 8, y & 0xFF, mo, d, wd, h, mi, s, 0xFF, deviation >> 8, deviation & 0xFF, status])


def _u32(v):
    return b"\x06" + bytes([v >> 24 & 0xFF, v >> 16 & 0xFF, v >> 8 & 0xFF, v & 0xFF])


def _u16(v):
    return b"\x12" + bytes([v >> 8 & 0xFF, v & 0xFF])


def _i16(v):
    return b"\x10" + bytes([v >> 8 & 0xFF, v & 0xFF])


def _string(tag, s):
    return bytes([tag, len(s)]) + s


def _obis(a, b, c, d, e):
    return bytes([0x09, 0x06, a, b, c, d, e, 0xFF])


def _register(c, d, value, scaler, unit):
    # Aidon/L+G: 02 03 {OBIS 1.0.c.d.0, value, 02 02 {0F scaler, 16 unit}}
    return b"\x02\x03" + _obis(1, 0, c, d, 0) + value + bytes([0x02, 0x02, 0x0F, scaler & 0xFF, 0x16, unit])


def _obis_body(maker, n, p, i, u, e, ident, clock):
    # Aidon and Landis+Gyr: an array of (OBIS, value[, scaler-unit]) structures
    if n == 1:
        return b"\x01\x01" + _register(1, 7, _u32(p[0]), 0, _W)
    si, su, se = UNITS[maker]
    items = [
        b"\x02\x02" + _obis(1, 1, 0, 2, 129) + _string(0x0A, ident[0]),
        b"\x02\x02" + _obis(0, 0, 96, 1, 0) + _string(0x0A, ident[1]),
        b"\x02\x02" + _obis(0, 0, 96, 1, 7) + _string(0x0A, ident[2]),
    ]
    for c in range(4):
        items.append(_register(c + 1, 7, _u32(p[c]), 0, _W if c < 2 else _VAR))
    for k in range(3):
        items.append(_register(31 + 20 * k, 7, _i16(i[k]), si, _A))
    for k in range(3):
        items.append(_register(32 + 20 * k, 7, _u16(u[k]), su, _V))
    if n == 3:
        items.append(b"\x02\x02" + _obis(0, 0, 1, 0, 0) + _string(0x09, clock))
        for c in range(4):
            items.append(_register(c + 1, 8, _u32(e[c]), se, _WH if c < 2 else _VARH))
    return bytes([0x01, len(items)]) + b"".join(items)


def _kaifa_body(n, p, i, u, e, ident, clock):
    # a structure of bare values, no OBIS codes: position gives the meaning (KFM_001)
    if n == 1:
        return b"\x02\x01" + _u32(p[0])
    items = [_string(0x09, s) for s in ident] + [_u32(v) for v in tuple(p) + tuple(i) + tuple(u)]
    if n == 3:
        items.append(_string(0x09, clock))
        items += [_u32(v) for v in e]
    return bytes([0x02, len(items)]) + b"".join(items)


def _kamstrup_body(n, p, i, u, e, ident, clock):
    # the list id, then OBIS code / value pairs with B = 1; no list 1
    if n == 1:
        raise ValueError("Kamstrup meters send no list 1")
    items = [
        _string(0x0A, ident[0]),
        _obis(1, 1, 0, 0, 5), _string(0x0A, ident[1]),
        _obis(1, 1, 96, 1, 1), _string(0x0A, ident[2]),
    ]
    for c in range(4):
        items += [_obis(1, 1, c + 1, 7, 0), _u32(p[c])]
    for k in range(3):
        items += [_obis(1, 1, 31 + 20 * k, 7, 0), _u32(i[k])]
    for k in range(3):
        items += [_obis(1, 1, 32 + 20 * k, 7, 0), _u16(u[k])]
    if n == 3:
        items += [bytes([0x09, 0x06, 0, 1, 1, 0, 0, 0xFF]), _string(0x09, clock)]
        for c in range(4):
            items += [_obis(1, 1, c + 1, 8, 0), _u32(e[c])]
    return bytes([0x02, len(items)]) + b"".join(items)


def encode(maker, n, p=(0, 0, 0, 0), i=(0, 0, 0), u=(0, 0, 0), e=(0, 0, 0, 0), ident=None, stamp=None, clock=None):
    # One whole frame of list n (1, 2 or 3) as `maker` sends it.
    # p: P+, P-, Q+, Q- (W, var); i, u: per-phase current and voltage and e: A+, A-, R+, R-, all raw
    # integers in the maker's UNITS; ident: (list id, meter id, meter type) as bytes (lists 2, 3);
    # stamp: the notification's 12-byte date-time (Kaifa and Kamstrup send one); clock: the
    # list 3 clock object's 12 bytes.
    if maker not in _HDLC:
        raise ValueError("maker %r is not one of %s" % (maker, ", ".join(sorted(_HDLC))))
    if n not in (1, 2, 3):
        raise ValueError("list %r is not 1, 2 or 3" % (n,))
    address, control, invoke = _HDLC[maker]
    if maker == "kaifa":
        head = b"\x09\x0c" + stamp  # typed octet-string date-time
        body = _kaifa_body(n, p, i, u, e, ident, clock)
    elif maker == "kamstrup":
        head = b"\x0c" + stamp  # length-prefixed date-time
        body = _kamstrup_body(n, p, i, u, e, ident, clock)
    else:
        head = b"\x00"  # no date-time
        body = _obis_body(maker, n, p, i, u, e, ident, clock)
    return hdlc(b"\xe6\xe7\x00\x0f" + invoke + head + body, address, control)
