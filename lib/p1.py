# p1.py Provides Decoder: DSMR P1 telegrams out of a byte stream, CRC-checked, into a Reading.
# MIT license
#
# A telegram is ASCII: "/XXXZ ident" CR LF, CR LF, lines "A-B:C.D.E(value*unit)" CR LF, then "!"
# and the CRC-16/ARC of everything from "/" to "!" as 4 hex digits (protocol.md 6.5). Swedish,
# Danish, Dutch (DSMR 5) and Belgian (e-MUCS) meters send them at 115200 8N1, 1 to 1.2 KB every 1-10 s.
# The telegram is never held whole: each line is parsed into the Reading as it completes, the CRC
# is kept up to date byte by byte, and the Reading is handed on only when the CRC matches.
# feed(src, n) is hdlc.Assembler's, so the app can put this in the assembler's place.

from micropython import const
from array import array
from counter import add
from reading import Reading
from obis import CODES, KINDS, KIND_POWER, KIND_CURRENT, KIND_VOLTAGE, KIND_ENERGY, KIND_TEXT, KIND_CLOCK, field

_START = const(0x2F)  # "/"
_END = const(0x21)  # "!"
_CR = const(0x0D)
_LF = const(0x0A)
_OPEN = const(0x28)  # "("
_CLOSE = const(0x29)  # ")"
_LINE_MAX = const(128)  # bytes of a line kept: every value read sits well inside; longer lines (failure logs, text messages) are cut

_IDLE = const(0)  # between telegrams
_BODY = const(1)  # from "/" to "!"
_CHECK = const(2)  # the CRC digits after "!"

_UNIT_NONE = const(7)  # a value without "*unit": taken in the field's own unit
_BIG = const(107374181)  # (2**30 - 10) // 10: hi above this and the next "* 10" could pass 2**30 (beyond 14 digits)
_MAX = const(0x3FFFFFFF)  # the largest small int on a 32-bit port

_IMPORT = field("active_energy_import")
_EXPORT = field("active_energy_export")
_IMPORT_T1 = field("active_energy_import_t1")
_IMPORT_T2 = field("active_energy_import_t2")
_EXPORT_T1 = field("active_energy_export_t1")
_EXPORT_T2 = field("active_energy_export_t2")
_METER_ID = field("meter_id")
_METER_TYPE = field("meter_type")
_EQUIPMENT_ID = const(96 << 16 | 1 << 8 | 1)  # 0-0:96.1.1: DSMR's meter id, hex-coded ASCII (Kamstrup's meter type in DLMS)

# flag id (the three letters after "/") -> maker
_MAKERS = ((b"KAM", "Kamstrup"), (b"LGF", "Landis+Gyr"), (b"XMX", "Landis+Gyr"), (b"ELL", "Elster"),
           (b"ISK", "Iskraemeco"), (b"ISk", "Iskraemeco"), (b"KFM", "Kaifa"), (b"AUX", "Aidon"),
           (b"SAG", "Sagemcom"), (b"Ene", "Sagemcom"), (b"FLU", "Fluvius"), (b"NES", "NES"))


def _make_table():
    # CRC-16/ARC byte table: reflected polynomial 0x8005 (0xA001), init 0, no final xor
    t = array("H", bytes(512))
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        t[i] = c
    return t


_TABLE = _make_table()
del _make_table


class Decoder:
    def __init__(self, on_reading=None):
        self.reading = Reading()  # filled line by line; whole and checked only inside on_reading
        self._on_reading = on_reading  # called with the Reading for each telegram that passes its CRC
        self.line = bytearray(_LINE_MAX)
        self._len = 0  # bytes of the current line kept in self.line
        self._lines = 0  # lines of the telegram so far
        self._state = _IDLE
        self._crc = 0
        self._sent = 0  # the CRC digits read so far, as a number
        self._digits = 0
        self._bare = False
        self._fields = 0  # values stored from this telegram
        self._p = 0  # parse position, set by the line readers (a tuple return would allocate)
        self._hi = 0  # the last number read: hi * 65536 + lo, scaled by 10**_exp
        self._lo = 0
        self._exp = 0
        self._unit = _UNIT_NONE
        self.crc_seen = False  # a telegram with a right CRC came: from then on one without a CRC is refused
        self.frames_ok = 0  # telegrams handed on; counters wrap at 2**30 (counter.py)
        self.decoded = 0  # the same number: the name dlms.Decoder counts its messages by
        self.bad_crc = 0  # telegrams dropped: CRC wrong or not 4 hex digits, or missing where the meter sends one
        self.no_crc = 0  # telegrams handed on without a CRC (DSMR 2/3, some Iskraemeco meters): included in frames_ok
        self.cut = 0  # telegrams cut short by the next "/" (bytes lost on the line)
        self.skipped = 0  # bytes outside any telegram, CR and LF not counted

    def feed(self, src, n):
        # take src[0:n]; calls on_reading for every telegram whose CRC matches
        t = _TABLE
        line = self.line
        state = self._state
        crc = self._crc
        k = self._len
        for i in range(n):
            b = src[i]
            if state == _BODY:
                if b == _START:  # the next telegram began: this one lost its end
                    self.cut = add(self.cut, 1)
                    self._begin()
                    crc = t[_START]
                    k = 1
                    continue
                crc = (crc >> 8) ^ t[(crc ^ b) & 0xFF]
                if b == _LF:
                    self._parse(k)
                    k = 0
                elif b == _END:
                    self._bare = k == 0  # "!" opens its line: a telegram without CRC may end here
                    if k:
                        self._parse(k)  # a last line without its CR LF
                        k = 0
                    state = _CHECK
                    self._crc = crc
                    self._sent = 0
                    self._digits = 0
                elif b != _CR:
                    if k < _LINE_MAX:
                        line[k] = b
                        k += 1
            elif state == _CHECK:
                v = _hex(b)
                if v >= 0 and self._digits < 4:
                    self._sent = self._sent << 4 | v
                    self._digits += 1
                    if self._digits == 4:  # known now: no need to wait for the CR LF
                        self._end(self._sent == self._crc)
                        state = _IDLE
                    continue
                # the digits ended early, or none came: DSMR 2/3 have no CRC, and their "!" is a
                # line of its own. A "!" made by line noise inside a line never ends a telegram.
                if (b == _CR or b == _LF) and not self._digits and self._bare and not self.crc_seen:
                    self._end(False)
                else:
                    self.bad_crc = add(self.bad_crc, 1)
                state = _IDLE
                if b == _START:
                    state = _BODY
                    self._begin()
                    crc = t[_START]
                    k = 1
                elif b != _CR and b != _LF:
                    self.skipped = add(self.skipped, 1)
            elif b == _START:
                state = _BODY
                self._begin()
                crc = t[_START]
                k = 1
            elif b != _CR and b != _LF:
                self.skipped = add(self.skipped, 1)
        self._state = state
        self._crc = crc
        self._len = k

    def _begin(self):
        self.reading.clear()
        self.line[0] = _START
        self._lines = 0
        self._fields = 0

    def _end(self, crc_ok):
        # the telegram is complete: crc_ok, or False for one sent without a CRC
        if crc_ok:
            self.crc_seen = True
        elif self._digits or not self._fields:  # a wrong CRC; or none, and nothing read
            self.bad_crc = add(self.bad_crc, 1)
            return
        else:
            self.no_crc = add(self.no_crc, 1)
        rd = self.reading
        _sum(rd, _IMPORT, _IMPORT_T1, _IMPORT_T2)
        _sum(rd, _EXPORT, _EXPORT_T1, _EXPORT_T2)
        self.frames_ok = add(self.frames_ok, 1)
        self.decoded = self.frames_ok
        if self._on_reading is not None:
            self._on_reading(rd)

    def counters(self):
        # allocates: for status pages and logs
        return {"frames_ok": self.frames_ok, "bad_crc": self.bad_crc, "no_crc": self.no_crc, "cut": self.cut, "skipped": self.skipped}

    # --- one line, as it completes ---

    def _parse(self, k):
        self._lines += 1
        if self._lines == 1:
            self._ident(k)
            return
        # "A-B:C.D.E(" : only this meter's own objects (B = 0); other B are M-Bus devices (gas, water)
        line = self.line
        a = self._int(0, k, 0x2D)  # "-"
        if a < 0 or a > 1 or self._int(self._p, k, 0x3A) != 0:  # ":"
            return
        c = self._int(self._p, k, 0x2E)  # "."
        d = self._int(self._p, k, 0x2E)
        e = self._int(self._p, k, _OPEN)
        if c < 0 or d < 0 or e < 0 or c > 255 or d > 255 or e > 255:
            return
        code = c << 16 | d << 8 | e
        f = CODES.get(code, -1)
        if code == _EQUIPMENT_ID:
            f = _METER_ID
        if f < 0:
            return
        p = self._p  # just after "("
        kind = KINDS[f]
        if kind == KIND_TEXT:
            if a != 0:
                return
            q = _close(line, p, k)
            if q < 0:
                return
            if code == _EQUIPMENT_ID:
                q = p + _unhex(line, p, q)
            self.reading.set_text(f, line, p, q - p)
        elif kind == KIND_CLOCK:
            if a == 0 and _clock(line, p, k, self.reading.clock):
                self.reading.present[f] = 1
        else:
            if a != 1:
                return
            while True:  # the value is the last group: "1-0:1.6.0(200509134558S)(02.589*kW)"
                q = _close(line, p, k)
                if q < 0:
                    return
                if q + 1 < k and line[q + 1] == _OPEN:
                    p = q + 2
                    continue
                break
            if not self._number(p, q):
                return
            if self._unit != _UNIT_NONE and self._unit != kind:
                return  # a unit that is not this field's: not what the table says the code is
            self.reading.set_number(f, self._hi, self._lo, self._exp)
        self._fields += 1

    def _ident(self, k):
        # "/KAM5", "/LGF5E360", "/ISK5\2M550T-1013": maker from the flag id, the rest as meter_type
        line = self.line
        rd = self.reading
        if k >= 4:
            for flag, maker in _MAKERS:
                if line[1] == flag[0] and line[2] == flag[1] and line[3] == flag[2]:
                    rd.manufacturer = maker
                    break
        p = 5
        if k >= p + 2 and line[p] == 0x5C:  # "\W": IEC 62056-21 enhanced baud rate identification
            p += 2
        elif k > p and line[p] == 0x3A:  # NES: "/NES5:83335-3E"
            p += 1
        if k > p:
            rd.set_text(_METER_TYPE, line, p, k - p)

    def _int(self, p, k, stop):
        # decimal digits from p up to `stop` -> their value (at most 999), self._p after the stop; -1 if none or no stop
        line = self.line
        v = 0
        start = p
        while p < k:
            b = line[p]
            if b == stop:
                if p == start:
                    return -1
                self._p = p + 1
                return v
            if b < 0x30 or b > 0x39 or p - start >= 3:
                return -1
            v = v * 10 + b - 0x30
            p += 1
        return -1

    def _number(self, p, q):
        # "-0001.453*kW" in line[p:q] -> self._hi, _lo, _exp (in W, var, Wh, varh, V, A) and _unit (a field kind); False if malformed
        line = self.line
        hi = 0
        lo = 0
        exp = 0
        point = False
        digits = 0
        neg = p < q and line[p] == 0x2D
        if neg:
            p += 1
        while p < q:
            b = line[p]
            if 0x30 <= b <= 0x39:
                if hi > _BIG:
                    return False
                lo = lo * 10 + b - 0x30
                hi = hi * 10 + (lo >> 16)
                lo &= 0xFFFF
                digits += 1
                if point:
                    exp -= 1
            elif b == 0x2E and not point:
                point = True
            else:
                break
            p += 1
        if not digits:
            return False
        self._unit = _UNIT_NONE
        if p < q:
            if line[p] != 0x2A:  # "*"
                return False
            u = _unit(line, p + 1, q)
            if u < 0:
                return False
            self._unit = u & 0xFF
            exp += u >> 8
        if neg and (hi or lo):
            if lo:
                lo = 65536 - lo
                hi = -hi - 1
            else:
                hi = -hi
        self._hi = hi
        self._lo = lo
        self._exp = exp
        return True


def _hex(b):
    # value of one hex digit, -1 if b is none
    if 0x30 <= b <= 0x39:
        return b - 0x30
    b |= 0x20  # lower case
    if 0x61 <= b <= 0x66:
        return b - 0x57
    return -1


def _close(line, p, k):
    # position of the ")" closing the group that starts at p, -1 if the line ends first
    while p < k:
        if line[p] == _CLOSE:
            return p
        p += 1
    return -1


def _unit(line, s, e):
    # the unit in line[s:e] -> its field kind | prefix exponent << 8; -1 if not one a field has.
    # Energy is kept in Wh and varh, power in W and var: "kWh" gives exponent 3
    exp = 0
    if e - s >= 2 and line[s] == 0x6B:  # "k"
        exp = 3
        s += 1
    elif e - s >= 2 and line[s] == 0x4D:  # "M"
        exp = 6
        s += 1
    n = e - s
    u0 = line[s] & 0xDF if n else 0  # upper case
    u1 = line[s + 1] & 0xDF if n > 1 else 0
    u2 = line[s + 2] & 0xDF if n > 2 else 0
    u3 = line[s + 3] & 0xDF if n > 3 else 0
    if n == 1:
        kind = KIND_POWER if u0 == 0x57 else KIND_VOLTAGE if u0 == 0x56 else KIND_CURRENT if u0 == 0x41 else -1  # W V A
    elif n == 2 and u0 == 0x57 and u1 == 0x48:  # Wh
        kind = KIND_ENERGY
    elif n == 3 and u0 == 0x56 and u1 == 0x41 and u2 == 0x52:  # var, VAr, kvar
        kind = KIND_POWER
    elif n == 4 and u0 == 0x56 and u1 == 0x41 and u2 == 0x52 and u3 == 0x48:  # varh, kVArh
        kind = KIND_ENERGY
    else:
        kind = -1
    if kind < 0:
        return -1
    return kind | exp << 8


def _two(line, p):
    # two decimal digits at p -> their value, -1 if they are not digits
    a = line[p] - 0x30
    b = line[p + 1] - 0x30
    if 0 <= a <= 9 and 0 <= b <= 9:
        return a * 10 + b
    return -1


def _clock(line, p, k, out):
    # "YYMMDDhhmmssX" (X: S = summer time, W = winter: CET/CEST, so the deviation is known) or
    # "YYYYMMDD hh:mm:ss" (NES) at p -> out as axdr.Walker.datetime fills it; False if neither
    if p + 14 <= k and line[p + 13] == _CLOSE:
        s = line[p + 12]
        if s != 0x53 and s != 0x57:
            return False
        y = _two(line, p)
        at = p + 2
        step = 2
        out[6] = 0xFF88 if s == 0x53 else 0xFFC4  # UTC = local + deviation: -120 or -60 minutes
        out[7] = 0x80 if s == 0x53 else 0  # the daylight-saving bit of the clock status
    elif p + 18 <= k and line[p + 17] == _CLOSE and line[p + 8] == 0x20:
        y = _two(line, p + 2) if _two(line, p) == 20 else -1
        at = p + 4
        step = 3  # "dd hh:mm:ss": separators after the day
        out[6] = 0x8000  # not specified
        out[7] = 0xFF
    else:
        return False
    mo = _two(line, at)
    d = _two(line, at + 2)
    at += 4 if step == 2 else 5
    h = _two(line, at)
    mi = _two(line, at + step)
    sec = _two(line, at + 2 * step)
    if y < 0 or not 1 <= mo <= 12 or not 1 <= d <= 31 or not 0 <= h <= 23 or not 0 <= mi <= 59 or not 0 <= sec <= 60:
        return False
    out[0] = 2000 + y
    out[1] = mo
    out[2] = d
    out[3] = h
    out[4] = mi
    out[5] = sec
    return True


def _unhex(line, p, q):
    # "4532..." in line[p:q] decoded in place to "E2..." when it is printable hex-coded ASCII -> the length to keep
    n = q - p
    if n == 0 or n & 1:
        return n
    for i in range(0, n, 2):
        v = _hex(line[p + i]) << 4 | _hex(line[p + i + 1])
        if v < 0x20 or v > 0x7E:
            return n  # a digit that is no hex digit makes it negative
    for i in range(0, n, 2):
        line[p + i // 2] = _hex(line[p + i]) << 4 | _hex(line[p + i + 1])
    return n // 2


def _sum(rd, total, t1, t2):
    # total = t1 + t2 where the meter sends the tariff registers and no total (Dutch and Belgian meters)
    p = rd.present
    if p[total] or not (p[t1] or p[t2]):
        return
    if not p[t2]:
        rd.set_number(total, rd.hi[t1], rd.lo[t1], rd.exp[t1])
        return
    if not p[t1]:
        rd.set_number(total, rd.hi[t2], rd.lo[t2], rd.exp[t2])
        return
    hi1 = rd.hi[t1]
    lo1 = rd.lo[t1]
    e1 = rd.exp[t1]
    hi2 = rd.hi[t2]
    lo2 = rd.lo[t2]
    e2 = rd.exp[t2]
    while e1 > e2 and hi1 <= _BIG:  # the same decimals as a rule; else the finer one's
        lo1 *= 10
        hi1 = hi1 * 10 + (lo1 >> 16)
        lo1 &= 0xFFFF
        e1 -= 1
    while e2 > e1 and hi2 <= _BIG:
        lo2 *= 10
        hi2 = hi2 * 10 + (lo2 >> 16)
        lo2 &= 0xFFFF
        e2 -= 1
    if e1 != e2 or hi1 < 0 or hi2 < 0 or hi1 > _MAX - 1 - hi2:
        return  # past the 2**30 bound (or negative, which no register is): better no total than a wrong one
    lo = lo1 + lo2
    rd.set_number(total, hi1 + hi2 + (lo >> 16), lo & 0xFFFF, e1)
