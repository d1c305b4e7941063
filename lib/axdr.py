# axdr.py Provides Walker: bounds-checked, allocation-free reading of A-XDR encoded COSEM data.
# MIT license
#
# Nothing here raises on bad input: every read checks the end first and reports failure with
# -1 or False, because an exception allocates and the UART path must not.

from micropython import const
from obis import CODES, KINDS, KIND_TEXT, KIND_CLOCK

# Status of a decode, returned by the meter layouts
OK = const(0)
MALFORMED = const(1)
UNKNOWN = const(2)

NULL = const(0x00)
ARRAY = const(0x01)
STRUCTURE = const(0x02)
OCTET_STRING = const(0x09)
VISIBLE_STRING = const(0x0A)
UTF8_STRING = const(0x0C)
_DATE_TIME = const(0x19)
_MAX_DEPTH = const(8)  # nesting deeper than any meter sends is treated as malformed

# Content size by tag: >= 0 fixed, -1 length-prefixed bytes, -2 bit string, -3 container, -4 not usable
_SIZE = (
    0, -3, -3, 1, -2, 4, 4, -4, -4, -1, -1, -4, -1, -1, -4, 1,  # 00..0F
    2, 1, 2, -4, 8, 8, 1, 4, 8, 12, 5, 4,  # 10..1B
)


class Walker:
    def __init__(self):
        self.buf = b""
        self.pos = 0
        self.end = 0
        self.hi = 0  # last number read is hi * 65536 + lo
        self.lo = 0

    def reset(self, buf, start, end):
        self.buf = buf
        self.pos = start
        self.end = end

    def byte(self):
        p = self.pos
        if p >= self.end:
            return -1
        self.pos = p + 1
        return self.buf[p]

    def length(self):
        # A-XDR length: one byte below 0x80, else 0x81 or 0x82 and that many big-endian bytes
        b = self.byte()
        if b < 0x80:
            return b
        if b == 0x81:
            return self.byte()
        if b == 0x82 and self.pos + 2 <= self.end:
            b = self.buf[self.pos] << 8 | self.buf[self.pos + 1]
            self.pos += 2
            return b
        return -1

    def count(self, tag):
        # element count of an array or structure whose tag must be `tag`; -1 if it is not there
        if self.byte() != tag:
            return -1
        return self.length()

    def obis(self):
        # an OBIS code item (09 06 A B C D E F) as C<<16 | D<<8 | E; -1 for anything else
        p = self.pos
        b = self.buf
        if p + 8 > self.end or b[p] != OCTET_STRING or b[p + 1] != 6:
            return -1
        self.pos = p + 8
        return b[p + 4] << 16 | b[p + 5] << 8 | b[p + 6]

    def number(self, tag):
        # content of an integer item into hi/lo; False if tag is no integer type or bytes are missing
        b = self.buf
        p = self.pos
        if tag == 0x06 or tag == 0x05:  # double-long (unsigned)
            if p + 4 > self.end:
                return False
            hi = b[p] << 8 | b[p + 1]
            if tag == 0x05 and hi & 0x8000:
                hi -= 0x10000
            self.hi = hi
            self.lo = b[p + 2] << 8 | b[p + 3]
            self.pos = p + 4
            return True
        if tag == 0x12 or tag == 0x10:  # long (unsigned)
            if p + 2 > self.end:
                return False
            lo = b[p] << 8 | b[p + 1]
            self.hi = -1 if tag == 0x10 and lo & 0x8000 else 0
            self.lo = lo
            self.pos = p + 2
            return True
        if tag == 0x11 or tag == 0x16 or tag == 0x03 or tag == 0x0F:  # unsigned, enum, boolean, integer
            if p + 1 > self.end:
                return False
            lo = b[p]
            if tag == 0x0F and lo & 0x80:
                self.hi = -1
                self.lo = lo | 0xFF00
            else:
                self.hi = 0
                self.lo = lo
            self.pos = p + 1
            return True
        if tag == 0x15 or tag == 0x14:  # long64 (unsigned): kept when it fits in 40 bits
            if p + 8 > self.end:
                return False
            top = b[p] << 16 | b[p + 1] << 8 | b[p + 2]
            hi = b[p + 3] << 16 | b[p + 4] << 8 | b[p + 5]
            if tag == 0x14 and top == 0xFFFFFF and hi & 0x800000:
                hi -= 0x1000000
            elif top:
                return False
            self.hi = hi
            self.lo = b[p + 6] << 8 | b[p + 7]
            self.pos = p + 8
            return True
        return False

    def datetime(self, out):
        # 12 date-time bytes at pos into out[0:8] (Y M D h m s, deviation as sent (u16, 0x8000 = not
        # specified), clock status (0xFF = not specified)): the accounting reads the last two.
        # Returns 1 when stored, 0 when the date is "not specified", -1 when bytes are missing.
        p = self.pos
        b = self.buf
        if p + 12 > self.end:
            return -1
        self.pos = p + 12
        year = b[p] << 8 | b[p + 1]
        month = b[p + 2]
        day = b[p + 3]
        if year == 0xFFFF or not 1 <= month <= 12 or not 1 <= day <= 31:
            return 0
        out[0] = year
        out[1] = month
        out[2] = day
        for i in range(3):  # hour, minute, second; FF means "not specified"
            v = b[p + 5 + i]
            out[3 + i] = 0 if v == 0xFF else v
        out[6] = b[p + 9] << 8 | b[p + 10]
        out[7] = b[p + 11]
        return 1

    def store(self, rd, f, exp):
        # read one data item into field f of Reading rd (f < 0: just step over it).
        # An item whose type does not fit the field is stepped over, not stored.
        tag = self.byte()
        if tag < 0:
            return False
        if f >= 0:
            kind = KINDS[f]
            if kind == KIND_TEXT:
                if tag == OCTET_STRING or tag == VISIBLE_STRING or tag == UTF8_STRING:
                    n = self.length()
                    if n < 0 or self.pos + n > self.end:
                        return False
                    rd.set_text(f, self.buf, self.pos, n)
                    self.pos += n
                    return True
            elif kind == KIND_CLOCK:
                if tag == OCTET_STRING:
                    n = self.length()
                    if n != 12:
                        return self._step(n)
                if tag == OCTET_STRING or tag == _DATE_TIME:
                    r = self.datetime(rd.clock)
                    if r > 0:
                        rd.present[f] = 1
                    return r >= 0
            elif self.number(tag):
                rd.set_number(f, self.hi, self.lo, exp)
                return True
        return self.skip_content(tag, 0)

    def pairs(self, rd, n, exps):
        # n elements, alternately an OBIS code and its value, stored with exponent exps[kind];
        # Kamstrup 1-phase meters put null-data in both slots of the phases they lack
        while n >= 2:
            if self.pos < self.end and self.buf[self.pos] == NULL:
                self.pos += 1
                f = -1
            else:
                key = self.obis()
                if key < 0:
                    return MALFORMED
                f = CODES.get(key, -1)
            if not self.store(rd, f, exps[KINDS[f]] if f >= 0 else 0):
                return MALFORMED
            n -= 2
        return OK if n == 0 else MALFORMED

    def skip(self):
        # step over one whole data item
        tag = self.byte()
        return tag >= 0 and self.skip_content(tag, 0)

    def skip_content(self, tag, depth):
        if tag >= len(_SIZE):
            return False
        size = _SIZE[tag]
        if size == -1:
            size = self.length()
        elif size == -2:
            size = self.length()
            size = (size + 7) >> 3 if size >= 0 else -1
        elif size == -3:
            n = self.length()
            if n < 0 or depth >= _MAX_DEPTH:
                return False
            for _ in range(n):
                t = self.byte()
                if t < 0 or not self.skip_content(t, depth + 1):
                    return False
            return True
        return self._step(size)

    def _step(self, n):
        if n < 0 or self.pos + n > self.end:
            return False
        self.pos += n
        return True
