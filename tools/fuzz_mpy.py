# fuzz_mpy.py Provides the fuzzer of `make fuzz`: mutated meter frames through RingBuffer -> Assembler -> Decoder under heap_lock.
# MIT license
#
# Usage: micropython tools/fuzz_mpy.py [inputs] [seed]     (defaults: 2,000,000 inputs, seed 1)
#        micropython tools/fuzz_mpy.py --replay FILE...    streams saved by a failure (.hex) or
#                                                          host_tests/fixtures/fuzz_regressions.jsonl
#
# Inputs are made from the CRC-valid frames of host_tests/fixtures (every maker, the LLC-only APDUs
# wrapped in HDLC here), mutated, and written into one preallocated pool per batch. Then, with the
# heap locked, the pool is pushed 1 to 64 bytes at a time through a fixed 64-byte scratch into the
# ring, and from the ring into the assembler and decoder, as the UART path does on the device.
# Every 16th input is a probe: a good frame carrying a serial number in its meter id, which must
# decode exactly once with the values of the frame it was made from. After each batch the heap,
# the counters and the probes are checked. docs/fuzzing.md lists the mutations and invariants.
#
# The same file is imported under CPython (tools/fuzz_cpython.py, host_tests/test_fuzz.py) for its
# frame builder, mutators and checked pipeline: it sticks to what both runtimes have.

import sys
import gc
import random
from array import array

_TOOLS = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
ROOT = _TOOLS + "/.."
_MPY = sys.implementation.name == "micropython"
if not _MPY:
    sys.path.insert(0, ROOT + "/host_tests/shims")  # the `micropython` module lib/ imports
sys.path.insert(0, ROOT + "/host_tests")
sys.path.insert(0, ROOT + "/lib")

import micropython  # noqa: E402  (the paths above come first)
from ringbuf import RingBuffer  # noqa: E402
from hdlc import Assembler  # noqa: E402
from dlms import Decoder  # noqa: E402
from gbt import Blocks  # noqa: E402
import p1  # noqa: E402
from fastbytes import crc16, copy  # noqa: E402
from obis import FIELDS, NUMERIC, CODES, field  # noqa: E402
from corpus import records, glo_ciphered, mbus_frames, gbt_blocks  # noqa: E402
import mbus  # noqa: E402

getrandbits = random.getrandbits
randint = random.randint
choice = random.choice

_ID = field("meter_id")
_CLOCK = field("meter_datetime")
_MASK30 = 0x3FFFFFFF
_MARKER = 12  # bytes of a probe's meter id replaced by "Z" and 11 digits of its serial number
_LLC = b"\xe6\xe7\x00"
# the keys of the encrypted templates made here (the corpus' own encrypted frames use other keys:
# with these they are wrong-key frames); batches alternate between both keys, the key alone, none
KEY = b"fuzz-key-16-byte"
AUTH_KEY = b"fuzz-auth-key-16"

# ---------------------------------------------------------------------------------------------
# Frames


def frame(info, more=False, address=b"\x41\x08\x83", control=0x13, length=-1, hcs=-1, fcs=-1):
    # a type-3 HDLC frame around info with both flags; length, hcs and fcs may be forced (for junk)
    n = 2 + len(address) + 1 + 2 + len(info) + 2
    if length < 0:
        length = n
    head = bytearray((0xA0 | (0x08 if more else 0) | (length >> 8 & 7), length & 0xFF)) + address
    head.append(control)
    c = crc16(head, 0, len(head)) if hcs < 0 else hcs
    body = head + bytes((c & 0xFF, c >> 8)) + info
    c = crc16(body, 0, len(body)) if fcs < 0 else fcs
    return b"\x7e" + body + bytes((c & 0xFF, c >> 8, 0x7E))


def split_frame(b):
    # (address, control, info, segmented) of one whole frame 7E .. 7E
    i = 3
    while not b[i] & 1:
        i += 1
    i += 1
    while not b[i] & 1:
        i += 1
    return bytes(b[3 : i + 1]), b[i + 1], bytes(b[i + 4 : len(b) - 3]), b[1] & 0x08


class Template:
    # one corpus message: its APDU (LLC stripped) and the HDLC details it came with
    def __init__(self, name, apdu, address, control, llc):
        self.name = name
        self.apdu = apdu
        self.address = address
        self.control = control
        self.llc = llc
        self.items = items(apdu)


def load_corpus():
    # (templates, raw junk frames) from every fixture file
    templates = []
    raw = []
    files = ("aidon", "kaifa", "kamstrup", "landisgyr", "other_hdlc", "encrypted")
    for r in records(*files):
        b = r["bytes"]
        if r["framing"] == "llc":
            templates.append(Template(r["id"], b[3:], b"\x41\x08\x83", 0x13, True))
        elif r["framing"] == "hdlc" and r.get("crc_ok"):
            address, control, info, _ = split_frame(b)
            llc = info[:2] in (b"\xe6\xe7", b"\xe6\xe6") and len(info) > 2 and info[2] == 0
            templates.append(Template(r["id"], info[3:] if llc else info, address, control, llc))
            raw.append(b)
        else:  # CRC-bad captures and M-Bus frames: real-world junk, fed as they are
            raw.append(b)
    sealed = []  # the known layouts also encrypted, in the three security modes by turns
    for i, t in enumerate(t for t in templates if t.apdu[:1] == b"\x0f"):
        sc = (0x30, 0x20, 0x10)[i % 3]
        apdu = glo_ciphered(t.apdu, KEY, AUTH_KEY, sc, counter=bytes((0, 0, i >> 8, i & 0xFF)))
        sealed.append(Template("%s-sc%02x" % (t.name, sc), apdu, t.address, t.control, t.llc))
    return templates + sealed, raw


# ---------------------------------------------------------------------------------------------
# A-XDR items of a data-notification, for the structure-aware mutations

_FIXED = {0x00: 0, 0x03: 1, 0x05: 4, 0x06: 4, 0x0F: 1, 0x10: 2, 0x11: 1, 0x12: 2, 0x14: 8, 0x15: 8,
          0x16: 1, 0x17: 4, 0x18: 8, 0x19: 12, 0x1A: 5, 0x1B: 4}
_STRINGS = (0x09, 0x0A, 0x0C, 0x0D)
_NUMBERS = (0x03, 0x05, 0x06, 0x0F, 0x10, 0x11, 0x12, 0x14, 0x15, 0x16)


def _length(a, p):
    # (A-XDR length, position after it) or (-1, p)
    if p >= len(a):
        return -1, p
    b = a[p]
    if b < 0x80:
        return b, p + 1
    if b == 0x81 and p + 1 < len(a):
        return a[p + 1], p + 2
    if b == 0x82 and p + 2 < len(a):
        return a[p + 1] << 8 | a[p + 2], p + 3
    return -1, p


def _scan(a, p, out, depth):
    # appends (start, tag, content start, end, depth) for the item at p and those inside it
    if p >= len(a) or depth > 16:
        return -1
    tag = a[p]
    k = len(out)
    out.append(None)
    if tag in _FIXED:
        q = p + 1
        end = q + _FIXED[tag]
    elif tag in _STRINGS or tag == 0x04:
        n, q = _length(a, p + 1)
        if n < 0:
            return -1
        end = q + ((n + 7) >> 3 if tag == 0x04 else n)
    elif tag == 0x01 or tag == 0x02:
        n, q = _length(a, p + 1)
        if n < 0:
            return -1
        end = q
        for _ in range(n):
            end = _scan(a, end, out, depth + 1)
            if end < 0:
                return -1
    else:
        return -1
    if end > len(a):
        return -1
    out[k] = (p, tag, q, end, depth)
    return end


def items(apdu):
    # the A-XDR items of a data-notification's body (as far as they parse), else []
    out = []
    if len(apdu) < 7 or apdu[0] != 0x0F:
        return out
    p = 5
    if apdu[p] == 0x09:
        p += 1
    if apdu[p] == 12:
        p += 13
    elif apdu[p] == 0:
        p += 1
    else:
        return out
    _scan(apdu, p, out, 0)
    return [x for x in out if x is not None]


# ---------------------------------------------------------------------------------------------
# Mutations. Each takes (apdu, template) and returns a new APDU; slicing allocates, which is why
# all of this runs before the heap is locked.

_RAND = bytes()  # 64 KiB of random bytes, made by seed(): slices of it are cheap random strings
_INTERESTING = (0x00, 0x01, 0x02, 0x06, 0x09, 0x0C, 0x7E, 0x7F, 0x80, 0x81, 0x82, 0x83, 0xFE, 0xFF)
_HUGE = (b"\x82\xff\xff", b"\x82\xff\xff", b"\x81\xff", b"\x82\x07\xff", b"\x82\x08\x00", b"\x80",
         b"\x83\x01\x00\x00", b"\x84\xff\xff\xff\xff", b"\x7f", b"\x82\x00", b"\x81", b"\x82")
_BAD_TAGS = (0x07, 0x08, 0x0B, 0x0E, 0x13, 0x1C, 0x1D, 0x20, 0x7E, 0x80, 0xFF)
_KAIFA_COUNTS = (0, 1, 9, 13, 14, 18, 0x7F)
_OBIS = []  # (C, D, E) of every code the decoder knows


def seed(s):
    global _RAND
    random.seed(s)
    b = bytearray(65536)
    for i in range(0, 65536, 4):
        v = getrandbits(32)
        b[i] = v & 0xFF
        b[i + 1] = v >> 8 & 0xFF
        b[i + 2] = v >> 16 & 0xFF
        b[i + 3] = v >> 24
    _RAND = bytes(b)
    if not _OBIS:
        for k in CODES:
            _OBIS.append(bytes((k >> 16, k >> 8 & 0xFF, k & 0xFF)))
        _OBIS.sort()  # dict order differs between the runtimes: keep runs reproducible


def rbytes(n):
    o = getrandbits(16)
    if o + n > 65536:
        o = 65536 - n if n <= 65536 else 0
    return _RAND[o : o + n]


def _pick(a, t, want=None):
    # a random item of t (optionally only tags in `want`) that still lies inside a; None if none
    its = t.items
    if not its:
        return None
    for _ in range(6):
        x = its[getrandbits(16) % len(its)]
        if x[3] <= len(a) and (want is None or x[1] in want):
            return x
    return None


def _number():
    tag = choice(_NUMBERS)
    return bytes((tag,)) + rbytes(_FIXED[tag])


def _string(n=-1):
    if n < 0:
        n = getrandbits(5)
    return bytes((choice(_STRINGS), n)) + rbytes(n)


def m_bitflip(a, t):
    a = bytearray(a)
    if a:
        for _ in range(1 + getrandbits(3)):
            i = getrandbits(16) % len(a)
            a[i] ^= 1 << getrandbits(3)
    return a


def m_byteset(a, t):
    a = bytearray(a)
    if a:
        for _ in range(1 + getrandbits(2)):
            a[getrandbits(16) % len(a)] = choice(_INTERESTING) if getrandbits(1) else getrandbits(8)
    return a


def m_truncate(a, t):
    return a[: getrandbits(16) % (len(a) + 1)]


def m_duplicate(a, t):
    if not a:
        return a
    s = getrandbits(16) % len(a)
    e = s + 1 + getrandbits(16) % min(len(a) - s, 200)
    at = getrandbits(16) % (len(a) + 1)
    return a[:at] + a[s:e] + a[at:]


def m_delete(a, t):
    if not a:
        return a
    s = getrandbits(16) % len(a)
    e = s + 1 + getrandbits(16) % min(len(a) - s, 64)
    return a[:s] + a[e:]


def m_insert_random(a, t):
    at = getrandbits(16) % (len(a) + 1)
    return a[:at] + rbytes(1 + getrandbits(5)) + a[at:]


def m_cut_item(a, t):
    # the APDU ends inside an item's tag or length bytes, long forms (81, 82) included
    x = _pick(a, t)
    if x is None:
        return m_truncate(a, t)
    s, tag, q, e, _ = x
    if getrandbits(1):
        a = a[: s + 1] + choice((b"\x82\x01\x00", b"\x81\x80", b"\x82\xff\xff")) + a[q:]
        q = s + 4
    return a[: s + 1 + getrandbits(8) % (q - s + 1)]


def m_huge_length(a, t):
    # a container or string whose length claims up to 0xFFFF, or a broken length byte
    x = _pick(a, t, (0x01, 0x02, 0x04) + _STRINGS)
    if x is None:
        return m_byteset(a, t)
    return a[: x[0] + 1] + choice(_HUGE) + a[x[2] :]


def m_deep(a, t):
    # an item replaced by arrays or structures nested deeper than axdr's 8 levels
    x = _pick(a, t)
    s, e = (x[0], x[3]) if x else (len(a), len(a))
    d = randint(6, 40) if getrandbits(3) else randint(100, 900)  # the deep ones would overflow a C stack
    opener = choice((b"\x01\x01", b"\x02\x01", b"\x02\x02", b"\x01\x82\xff\xff", b"\x02\x81\x02"))
    leaf = choice((b"\x00", b"\x06\x00\x00\x00\x01", b"\x09\x06\x01\x00\x01\x07\x00\xff", a[s:e]))
    tail = b"\x00" * (d * (1 if opener[-1:] == b"\x02" else 0))
    return a[:s] + opener * d + leaf + tail + a[e:]


def m_string_82(a, t):
    # a string that claims a two-byte length: past the end, to the end, or huge
    x = _pick(a, t, _STRINGS)
    if x is None or getrandbits(2) == 0:
        at = x[0] if x else getrandbits(16) % (len(a) + 1)
        n = choice((0xFFFF, 0x7D0, 0x800, getrandbits(16)))
        return a[:at] + bytes((choice(_STRINGS), 0x82, n >> 8, n & 0xFF)) + rbytes(getrandbits(6)) + a[at:]
    real = x[3] - x[2]
    n = choice((0xFFFF, real + 1, real + 0x100, getrandbits(16), real))
    return a[: x[0] + 1] + bytes((0x82, n >> 8, n & 0xFF)) + a[x[2] :]


def m_type_swap(a, t):
    # wrong types: numbers become strings, structures, nulls or unknown tags, and the other way round
    x = _pick(a, t)
    if x is None:
        return m_byteset(a, t)
    s, tag, q, e, _ = x
    r = getrandbits(3)
    if tag in _NUMBERS or tag == 0x00:
        new = (_string(), b"\x02\x02" + _number() + _number(), b"\x01\x00", b"\x00",
               bytes((choice(_BAD_TAGS),)) + rbytes(4), b"\x04\x81\xff" + rbytes(32),
               b"\x19" + rbytes(12), _number())[r]
    elif tag in _STRINGS:
        new = (_number(), b"\x15\xff\xff\xff\x80\x00\x00\x00\x01", b"\x14" + rbytes(8), b"\x02\x00",
               b"\x00", b"\x09\x0c" + rbytes(12), b"\x19" + rbytes(12), _string(getrandbits(7)))[r]
    else:
        new = (_number(), _string(), b"\x00", b"\x19" + rbytes(12), b"\x09\x06" + rbytes(6),
               bytes((choice(_BAD_TAGS),)), b"", a[q:e])[r]
    return a[:s] + new + a[e:]


def m_obis(a, t):
    # a known OBIS code put where another one was: the value's type no longer fits the field
    x = _pick(a, t, (0x09,))
    if x is None or x[3] - x[2] != 6:
        return m_type_swap(a, t)
    return a[: x[2] + 2] + choice(_OBIS) + a[x[2] + 5 :]


def m_count(a, t):
    # an array or structure count changed, or set to one the Kaifa layouts know
    x = _pick(a, t, (0x01, 0x02))
    if x is None:
        return m_huge_length(a, t)
    s, tag, q, e, _ = x
    n, _ = _length(a, s + 1)
    c = choice(_KAIFA_COUNTS) if getrandbits(1) else max(0, n + randint(-3, 3))
    enc = bytes((c,)) if c < 0x80 else bytes((0x81, c & 0xFF))
    return a[: s + 1] + enc + a[q:]


def m_number_edge(a, t):
    # extreme integer contents: all ones, sign bit only, zero, and 64-bit values past 40 bits
    x = _pick(a, t, _NUMBERS)
    if x is None:
        return m_bitflip(a, t)
    s, tag, q, e, _ = x
    n = e - q
    fill = choice((b"\xff" * n, b"\x80" + b"\x00" * (n - 1), b"\x00" * n, b"\x7f" + b"\xff" * (n - 1), rbytes(n)))
    if tag in (0x14, 0x15) and getrandbits(1):
        fill = choice((b"\x00\x00\x01", b"\xff\xff\xff", b"\xff\xff\xfe", b"\x00\x00\x00")) + rbytes(5)
    return a[:q] + fill + a[e:]


def m_header(a, t):
    # the notification header: invoke id, each date-time form and broken ones, other APDU tags
    dt = a[5] if len(a) > 5 else 0
    body = a[19:] if dt == 0x09 else (a[18:] if dt == 0x0C else a[6:])
    r = getrandbits(3)
    if r == 0:
        return bytes((choice((0xDB, 0xDC, 0xE0, 0x0E, 0x01, 0xC4, getrandbits(8))),)) + a[1:]
    if r == 1:
        return a[: getrandbits(5)]
    dt = (b"\x00", b"\x0c" + rbytes(12), b"\x09\x0c" + rbytes(12), b"\x09\x0d" + rbytes(13),
          b"\x0c\x07\xe9\x0c\x0e\x07\x10\x00\x00\xff", b"\x09\x0c\xff\xff\xff\xff\xff\xff\xff\xff\xff\x80\x00\x00",
          b"\x0c\x07\xe9\x0d\x20\x07\x19\x3b\x3b\xff\x80\x00\x00", b"\x09")[getrandbits(3)]
    return b"\x0f" + rbytes(4) + dt + body


def m_splice(a, t):
    # an item replaced by an item of another message (any maker, any depth)
    x = _pick(a, t)
    o = choice(TEMPLATES)
    y = _pick(o.apdu, o)
    if y is None:
        return m_duplicate(a, t)
    s, e = (x[0], x[3]) if x else (len(a), len(a))
    return a[:s] + o.apdu[y[0] : y[3]] + a[e:]


def m_oversize(a, t):
    # a body that fills a maximum frame, or more than the 2048-byte message buffer
    target = choice((1900, 2000, 2030, 2100, 2600, 4000, randint(100, 4000)))
    head = b"\x0f" + rbytes(4) + b"\x00"
    r = getrandbits(2)
    if r == 0:  # one huge string
        n = target - 10
        return head + b"\x02\x01\x09\x82" + bytes((n >> 8, n & 0xFF)) + rbytes(n)
    x = _pick(a, t, (0x02,))
    elem = bytes(a[x[0] : x[3]]) if x and x[3] - x[0] < 200 else b"\x02\x02\x09\x06\x01\x00\x01\x07\x00\xff\x06\x00\x00\x01\x00"
    n = max(1, (target - 10) // len(elem))
    count = choice((n, n + 1, 0xFFFF, n - 1)) if r == 1 else n
    return head + b"\x01\x82" + bytes((count >> 8 & 0xFF, count & 0xFF)) + elem * n


def m_random_apdu(a, t):
    n = getrandbits(9) if getrandbits(3) else getrandbits(11)
    lead = b"\x0f" + rbytes(4) + b"\x00" if getrandbits(1) else b""
    return lead + rbytes(n)


_MUTATIONS = (
    (m_bitflip, 6), (m_byteset, 5), (m_truncate, 4), (m_cut_item, 3), (m_duplicate, 3), (m_delete, 3), (m_insert_random, 2),
    (m_huge_length, 6), (m_deep, 4), (m_string_82, 5), (m_type_swap, 7), (m_obis, 5), (m_count, 4),
    (m_number_edge, 4), (m_header, 3), (m_splice, 4), (m_oversize, 1), (m_random_apdu, 1),
)
_SCHEDULE = []
for _f, _w in _MUTATIONS:
    _SCHEDULE.extend([_f] * _w)


def mutate_apdu(a, t):
    # one to three mutations, structure-aware ones working from the template's item map
    a = choice(_SCHEDULE)(a, t)
    while getrandbits(2) == 0:
        a = choice(_SCHEDULE)(a, t)
    return a


# ---------------------------------------------------------------------------------------------
# Wrapping APDUs in frames, and mutating raw frames

_ADDRESSES = (b"\x41\x08\x83", b"\x01\x02\x01", b"\x2b\x21", b"\xce\xff\x03", b"\xcf\x02\x23",
              b"\x03\x03", b"\x02\x00\x00\x01\x03", b"\x00\x02\x00\x02\x00\x02\x01\x03")


def wrap(apdu, t, segments=0, faults=False):
    # apdu in a CRC-valid frame (or segments when asked or too long), LLC as the template had it
    address = t.address if getrandbits(3) else choice(_ADDRESSES)
    control = t.control if getrandbits(3) else getrandbits(8)
    llc = t.llc if getrandbits(4) else not t.llc
    info = _LLC + apdu if llc else apdu
    room = 2047 - 7 - len(address)
    if not segments and len(info) <= room:
        return frame(info, False, address, control)
    k = max(segments, (len(info) + room - 1) // room, 2)
    step = max(1, (len(info) + k - 1) // k)
    if step > room:
        step = room
    pieces = [info[i : i + step] for i in range(0, len(info), step)] or [b""]
    repeat_llc = llc and getrandbits(1)
    out = [frame((_LLC if repeat_llc and i else b"") + p, i < len(pieces) - 1, address, control) for i, p in enumerate(pieces)]
    if faults:
        r = getrandbits(3)
        i = getrandbits(8) % len(out)
        if r == 0:
            del out[i]  # a lost segment
        elif r == 1:
            out.insert(i, out[i])  # a repeated one
        elif r == 2 and len(out) > 1:
            out[0], out[-1] = out[-1], out[0]  # out of order
        elif r == 3:
            out.pop()  # the final segment never comes
        elif r == 4:
            out.append(frame(rbytes(getrandbits(6)), True, address, control))  # an orphan segment after it
        elif r == 5:
            out[i] = out[i][: getrandbits(16) % len(out[i])]  # one cut short
        elif r == 6:
            b = bytearray(out[i])
            b[getrandbits(16) % len(b)] ^= 1 << getrandbits(3)
            out[i] = b
    return b"".join(out)


def _valid_frame():
    t = choice(TEMPLATES)
    return wrap(t.apdu, t), t


def r_bitflip(f):
    f = bytearray(f)
    for _ in range(1 + getrandbits(2)):
        f[getrandbits(16) % len(f)] ^= 1 << getrandbits(3)
    return f


def r_truncate(f):
    return f[: getrandbits(16) % len(f)]


def r_duplicate(f):
    r = getrandbits(2)
    if r == 0:
        return f + f
    if r == 1:
        return f[: getrandbits(16) % len(f)] + f  # a cut frame, then the whole one
    if r == 2:
        return f + f[1:]  # sharing the flag between them
    return f[:-1] + f[:-1] + f[:-1]  # no closing flags at all


def r_flags(f):
    r = getrandbits(2)
    if r == 0:
        return b"\x7e" * randint(1, 40) + f
    if r == 1:
        at = getrandbits(16) % len(f)
        return f[:at] + b"\x7e" + f[at:]  # a stray flag inside
    if r == 2:
        return f[1:-1]  # no flags
    return b"\x7e\xa0" * randint(1, 30) + f


def r_header(f):
    # header fields changed with the HCS recomputed: wrong format type, short or long lengths,
    # addresses that never end, a different control byte; the FCS as it was (or recomputed)
    address, control, info, more = split_frame(f)
    r = getrandbits(3)
    length = -1
    if r == 0:
        length = choice((2047, 2047, 0, 9, 10, 11, getrandbits(11), len(f) - 1, len(f) - 3))
    elif r == 1:
        address = b"\x00\x00\x00\x00\x00\x01\x03"  # five-byte destination
    elif r == 2:
        address = b"\x00\x00\x00\x00"  # no end of address at all
    elif r == 3:
        control = getrandbits(8)
    elif r == 4:
        more = not more
    b = bytearray(frame(info, more, address, control, length))
    if r == 5:
        b[1] = (b[1] & 0x0F) | choice((0x00, 0x80, 0xB0, 0xF0, 0x20))
        c = crc16(b, 1, 3 + len(address) + 1)
        b[4 + len(address)] = c & 0xFF
        b[5 + len(address)] = c >> 8
    return b


def r_max_length(f):
    # a header claiming 2047 bytes with a valid HCS, followed by too few, exactly enough or more
    address = choice(_ADDRESSES[:4])
    head = bytearray((0xA7 | (0x08 if getrandbits(2) == 0 else 0), 0xFF)) + address
    head.append(0x13)
    c = crc16(head, 0, len(head))
    h = b"\x7e" + head + bytes((c & 0xFF, c >> 8))
    r = getrandbits(3)
    if r < 3:
        return h + rbytes(getrandbits(10))
    if r < 6:
        return h + f  # a good frame inside the claimed span
    body = head + bytes((c & 0xFF, c >> 8)) + rbytes(2047 - len(head) - 4)
    c = crc16(body, 0, len(body))
    if r == 7:
        c ^= 1 + getrandbits(8)
    return b"\x7e" + body + bytes((c & 0xFF, c >> 8, 0x7E))  # a whole 2047-byte frame (r == 7: bad FCS)


def r_random(f):
    n = getrandbits(9) if getrandbits(4) else getrandbits(12)
    b = bytearray(rbytes(n))
    for _ in range(getrandbits(4)):  # flags and plausible format bytes, so the assembler has work
        if b:
            i = getrandbits(16) % len(b)
            b[i] = 0x7E
            if i + 1 < len(b):
                b[i + 1] = 0xA0 | getrandbits(4)
    return b


_RAW = ((r_bitflip, 5), (r_truncate, 4), (r_duplicate, 3), (r_flags, 2), (r_header, 5), (r_max_length, 3), (r_random, 4))
_RAW_SCHEDULE = []
for _f, _w in _RAW:
    _RAW_SCHEDULE.extend([_f] * _w)

TEMPLATES = []
RAW_FRAMES = []
PROBES = []  # (template, position of the meter id in its APDU)


def junk():
    # one mutated input: (kind name, bytes)
    r = getrandbits(5)
    if r < 17:  # an APDU mutated, then wrapped in CRC-valid frames: reaches the DLMS decoder
        t = choice(TEMPLATES)
        return "apdu", wrap(mutate_apdu(t.apdu, t), t, 0 if getrandbits(3) else randint(2, 5))
    if r < 20:  # a good or mutated message in segments, some lost, repeated, reordered or cut
        t = choice(TEMPLATES)
        a = t.apdu if getrandbits(1) else mutate_apdu(t.apdu, t)
        return "segments", wrap(a, t, randint(2, 6), getrandbits(2) != 0)
    if r < 30:  # raw frame bytes mutated: CRCs mostly broken
        f, _ = _valid_frame()
        return "raw", choice(_RAW_SCHEDULE)(f)
    if r < 31:  # real captures as they are: good ones, CRC-bad ones, M-Bus frames
        return "capture", choice(RAW_FRAMES)
    return "random", r_random(b"")


def probe(number, segmented=False, k=-1):
    # (bytes, probe index): a good frame whose meter id starts with Z and the number
    if k < 0:
        k = getrandbits(8) % len(PROBES)
    t, pos = PROBES[k]
    a = t.apdu[:pos] + ("Z%011d" % number).encode() + t.apdu[pos + _MARKER :]
    address = t.address
    info = _LLC + a if t.llc else a
    if not segmented:
        return frame(info, False, address, t.control), k
    # two or three segments; the first holds the whole marker, and no later one starts like an LLC header
    cuts = [randint(len(info) - len(a) + pos + _MARKER, len(info) - 2)]
    if getrandbits(1):
        cuts.append(randint(cuts[0] + 1, len(info) - 1))
    cuts = [c + 1 if info[c] == 0xE6 else c for c in cuts]
    cuts.append(len(info))
    pieces = []
    c0 = 0
    for c in cuts:
        if c > c0:
            pieces.append(info[c0:c])
            c0 = c
    return b"".join(frame(p, i < len(pieces) - 1, address, t.control) for i, p in enumerate(pieces)), k


def terminator():
    # a good single frame that ends a segmented message left open (its APDU is of no known kind)
    return frame(b"\xff\x00", False)


def fingerprint(rd):
    # a hash of what a Reading holds, meter id text excepted; allocates nothing
    p = rd.present
    h = 0
    for f in range(FIELDS):
        if p[f]:
            h = (h * 33 + f + 1) & 0xFFFFF
            if f < NUMERIC:
                h = (h * 33 + rd.hi[f] * 7 + rd.lo[f] + rd.exp[f]) & 0xFFFFF
            elif f == _CLOCK:
                c = rd.clock
                for i in range(6):
                    h = (h * 33 + c[i]) & 0xFFFFF
            else:
                h = (h * 33 + rd.text_len[f]) & 0xFFFFF
    if rd.has_notification_clock:
        c = rd.notification_clock
        for i in range(6):
            h = (h * 33 + c[i]) & 0xFFFFF
    return h


def setup(s=None):
    # loads the corpus once; seeds the generators when given a seed (or on the first call)
    if s is not None or not _RAND:
        seed(1 if s is None else s)
    if TEMPLATES:
        return len(TEMPLATES)
    templates, raw = load_corpus()
    TEMPLATES.extend(templates)
    RAW_FRAMES.extend(raw)
    for t in templates:
        d = Decoder()
        if d.apdu(t.apdu, 0, len(t.apdu)) != 0 or not d.reading.present[_ID] or d.reading.text_len[_ID] < _MARKER:
            continue
        rd = d.reading
        pos = bytes(t.apdu).find(bytes(rd.text[_ID][:_MARKER]))
        if pos > 0:
            PROBES.append((t, pos))
    _PROBE_WANT.clear()
    for t, pos in PROBES:
        a = t.apdu[:pos] + ("Z%011d" % 0).encode() + t.apdu[pos + _MARKER :]
        want = []
        for wh in (False, True):
            d = Decoder(kamstrup_energy_in_wh=wh)
            d.apdu(a, 0, len(a))
            want.append(fingerprint(d.reading))
        _PROBE_WANT.append((want[0], d.reading.manufacturer, want[1]))
    return len(TEMPLATES)


# per probe template: (fingerprint, manufacturer, fingerprint with kamstrup_energy_in_wh) of its good decode
_PROBE_WANT = []

# ---------------------------------------------------------------------------------------------
# The checked pipeline: RingBuffer -> Assembler -> Decoder, with counters that must add up


class Tap:
    # sits between assembler and decoder: counts what is delivered, recognises probes
    def __init__(self, decoder):
        self.dec = decoder
        self.delivered = 0
        self.marker = bytearray(_MARKER)
        self.want_fp = -1  # >= 0 while a probe is in flight
        self.want_maker = None
        self.hits = 0  # decodes of the probe in flight with the right values
        self.bad_probe = 0  # decodes of it with wrong values
        self.bad_values = 0  # readings outside the ranges reading.py promises
        self.ciphered = 0  # APDUs delivered with a ciphering tag: the decoder must count as many encrypted
        self.on_apdu = self.apdu  # bound once: binding under the lock would allocate

    def apdu(self, buf, start, end):
        self.delivered += 1
        if end > start and (buf[start] == 0xDB or buf[start] == 0xDC):
            self.ciphered += 1
        blocks = self.dec.blocks
        joined = blocks.messages
        st = self.dec.apdu(buf, start, end)
        if blocks.messages != joined and (blocks.buf[0] == 0xDB or blocks.buf[0] == 0xDC):
            self.ciphered += 1  # a ciphered message sent in blocks: counted once, when joined
        rd = self.dec.reading
        if st == 0:
            for f in range(NUMERIC):
                if rd.present[f] and not (0 <= rd.lo[f] < 65536 and -0x40000000 <= rd.hi[f] < 0x40000000):
                    self.bad_values += 1
            for f in range(NUMERIC, FIELDS):
                if rd.text_len[f] > 32:
                    self.bad_values += 1
            if self.want_fp >= 0 and rd.present[_ID] and rd.text_len[_ID] >= _MARKER:
                t = rd.text[_ID]
                m = self.marker
                i = 0
                while i < _MARKER and t[i] == m[i]:
                    i += 1
                if i == _MARKER:
                    if fingerprint(rd) == self.want_fp and rd.manufacturer is self.want_maker:
                        self.hits += 1
                    else:
                        self.bad_probe += 1
                    return


class CountedAssembler(Assembler):
    # The real Assembler; _info is wrapped to account for every frame that passed its CRCs, and
    # _parse to follow where the probe's opening flag lies in the window as the window moves.
    def __init__(self, tap, **limits):
        Assembler.__init__(self, tap.on_apdu, **limits)
        self.tap = tap
        self.infos = 0  # frames handed to segment handling
        self.held = 0  # segments with the S bit: kept for the message, not delivered
        self.dropped_finals = 0  # last segments of a message that lost a segment or outgrew the buffer
        self.acct_err = 0  # frames whose fate did not match the rules above
        self.probe_pos = -1  # index in self.win of the probe's opening flag; -1: none there
        self.swallowed = 0  # good frames that began before the probe's flag and ended after it
        self.joined = 0  # probe frames that arrived while a segmented message was open

    def _parse(self):
        n = self._n
        Assembler._parse(self)
        if self.probe_pos >= 0:
            self.probe_pos -= n - self._n  # the window moved down by what was parsed
            if self.probe_pos < 0:
                self.probe_pos = -1

    def _info(self, w, start, end, more):
        self.infos += 1
        tap = self.tap
        d = tap.delivered
        joining = self._joining
        ps = self.probe_pos
        if ps >= 0:
            if self.frame_start < ps < self.frame_end - 1:  # its closing flag may be the probe's opening one
                self.swallowed += 1
            elif self.frame_start == ps and joining:
                self.joined += 1
        dropping = self._dropping
        ov = self.oversize
        Assembler._info(self, w, start, end, more)
        got = tap.delivered - d
        if more:
            if got:
                self.acct_err += 1
            else:
                self.held += 1
        elif joining and (dropping or self.oversize != ov):
            if got:
                self.acct_err += 1
            else:
                self.dropped_finals += 1
        elif got != 1:
            self.acct_err += 1


# Probe outcomes. The first three are right; the two excused ones are allowed only when the junk
# before the probe left a frame header waiting for its bytes, so that what came after it (and what
# the assembler would make of the probe) could not be known when the probe was fed.
P_OK = 0
P_JOINED = 1  # excused: taken as the last segment of a segmented message left open behind that header
P_SWALLOWED = 2  # excused: its bytes went into a longer frame whose FCS matched by chance (16-bit CRC)
P_MISSING = 3
P_TWICE = 4
P_WRONG = 5
P_NAMES = ("ok", "joined to an open segmented message", "swallowed by a frame whose FCS matched by chance",
           "missing", "decoded twice", "decoded with wrong values")


class Checked:
    # one pipeline fed like the UART path: a source is copied 1..64 bytes at a time into a fixed
    # scratch, put into the ring, taken out into a second scratch and given to the assembler
    def __init__(self, sizes=None, ring=True, **limits):
        self.via_ring = ring  # False: straight into the assembler (the CPython fuzzer, for speed)
        self.decoder = Decoder(key=KEY, auth_key=AUTH_KEY)
        self.decoder.blocks = Blocks()  # made up front: the decoder would make it at the first block, under the lock
        self.ciphers = (self.decoder.cipher, None, Decoder(key=KEY).cipher, self.decoder.cipher)  # by batch
        self.tap = Tap(self.decoder)
        self.asm = CountedAssembler(self.tap, **limits)  # frame_max, apdu_max: the defaults unless given
        self.ring = RingBuffer()
        self.scratch = bytearray(64)
        self.inbox = bytearray(64)
        self.zeros = bytearray(64)
        if sizes is None:
            sizes = bytearray(4096)
            for i in range(4096):
                sizes[i] = 1 + getrandbits(6)
        self.sizes = sizes  # chunk sizes 1..64, cycled (4096 of them)
        self.ci = 0
        self.direct = 0  # APDUs handed to the decoder directly, not by the assembler
        self.offered = 0  # bytes offered to the ring
        self.fed = 0  # bytes handed to the assembler
        self.flushed = 0  # filler bytes fed after probes to end a frame left incomplete
        self.closed = 0  # probes that needed a terminator for a segmented message left open
        self.probes = 0
        self.outcomes = [0] * len(P_NAMES)

    def feed(self, src, s, e):
        # src[s:e] through ring and assembler, allocation-free
        ring = self.ring
        asm = self.asm
        sc = self.scratch
        box = self.inbox
        sizes = self.sizes
        ci = self.ci
        if not self.via_ring:
            while s < e:
                c = sizes[ci]
                ci = (ci + 1) & 4095
                if c > e - s:
                    c = e - s
                copy(sc, 0, src, s, c)
                self.offered += c
                self.fed += c
                ring.received = (ring.received + c) & _MASK30  # as if it had passed the ring
                asm.feed(sc, c)
                s += c
            self.ci = ci
            return
        while s < e:
            c = sizes[ci]
            ci = (ci + 1) & 4095
            if c > e - s:
                c = e - s
            copy(sc, 0, src, s, c)
            ring.put(sc, c)
            self.offered += c
            n = ring.get(box)
            if n:
                self.fed += n
                asm.feed(box, n)
            s += c
        self.ci = ci

    def apdu(self, buf, s, e):
        # an APDU straight to the decoder, past the assembler
        self.direct += 1
        self.tap.on_apdu(buf, s, e)

    def burst(self, src, s, e):
        # src[s:e] into the ring with nobody draining it (a main loop stalled past 8.5 s), then drained
        ring = self.ring
        sc = self.scratch
        while s < e:
            c = e - s
            if c > 64:
                c = 64
            copy(sc, 0, src, s, c)
            ring.put(sc, c)
            self.offered += c
            s += c
        self.drain()

    def drain(self):
        ring = self.ring
        box = self.inbox
        n = ring.get(box)
        while n:
            self.fed += n
            self.asm.feed(box, n)
            n = ring.get(box)

    def flush(self):
        # zeros until the assembler holds no partial frame: what follows a frame cut short ends it
        asm = self.asm
        z = self.zeros
        while asm._n:
            self.flushed += 64
            self.feed(z, 0, 64)

    def probe(self, src, s, e, number, want_fp, want_maker, term, ts, te):
        # feeds a probe frame (src[s:e]) and returns its outcome; allocation-free
        asm = self.asm
        tap = self.tap
        if asm._joining:
            # HDLC cannot tell a lone frame from the last segment of a message under way: end it first
            self.closed += 1
            self.feed(term, ts, te)
        m = tap.marker
        m[0] = 0x5A
        v = number
        for i in range(_MARKER - 1):
            m[_MARKER - 1 - i] = 0x30 + v % 10
            v //= 10
        tap.want_fp = want_fp
        tap.want_maker = want_maker
        tap.hits = 0
        asm.swallowed = 0
        asm.joined = 0
        b = tap.bad_probe
        hidden = asm._need > 0  # a frame header waits for its bytes: what follows it is not parsed yet
        asm.probe_pos = asm._n  # the ring is empty: the probe's first byte lands right after the window's
        self.feed(src, s, e)
        self.flush()
        asm.probe_pos = -1
        tap.want_fp = -1
        self.probes += 1
        if tap.bad_probe != b:
            r = P_WRONG
        elif tap.hits == 1:
            r = P_OK
        elif tap.hits > 1:
            r = P_TWICE
        elif hidden and asm.joined:
            r = P_JOINED
        elif hidden and asm.swallowed:
            r = P_SWALLOWED
        else:
            r = P_MISSING
        self.outcomes[r] += 1
        return r

    def errors(self):
        # what does not add up (allocates: call with the heap unlocked)
        out = []
        d = self.decoder
        a = self.asm
        r = self.ring
        t = self.tap
        counted = d.decoded + d.malformed + d.unknown + d.no_key + d.wrong_key
        b = d.blocks
        held = b.blocks - b.messages  # blocks taken into a message: the joined message is counted once
        if counted + held != t.delivered:
            out.append("decoder counted %d APDUs and held %d blocks, %d were delivered" % (counted, held, t.delivered))
        if d.encrypted != t.ciphered:
            out.append("decoder counted %d ciphered APDUs, %d were delivered" % (d.encrypted, t.ciphered))
        if a.frames_ok != a.infos:
            out.append("frames_ok %d but %d frames reached segment handling" % (a.frames_ok, a.infos))
        if a.infos != t.delivered - self.direct + a.held + a.dropped_finals or a.acct_err:
            out.append("frames %d != delivered %d + held segments %d + dropped finals %d (%d misaccounted)"
                       % (a.infos, t.delivered - self.direct, a.held, a.dropped_finals, a.acct_err))
        if (r.received + r.overflow) & _MASK30 != self.offered & _MASK30:
            out.append("ring received %d + overflow %d != offered %d" % (r.received, r.overflow, self.offered))
        if r.any() or r.received != self.fed & _MASK30:
            out.append("ring holds %d bytes; received %d, assembler fed %d" % (r.any(), r.received, self.fed))
        if t.bad_values:
            out.append("%d readings with values out of range" % t.bad_values)
        if not 0 <= d.last_unknown_list_len <= 32:
            out.append("last_unknown_list_len %d" % d.last_unknown_list_len)
        if not 0 <= a.skipped <= _MASK30:
            out.append("skipped %d" % a.skipped)
        return out

    def summary(self):
        d = self.decoder
        a = self.asm
        return ("frames_ok=%d bad_hcs=%d bad_fcs=%d oversize=%d skipped=%d overflow=%d decoded=%d malformed=%d "
                "unknown=%d encrypted=%d no_key=%d wrong_key=%d"
                % (a.frames_ok, a.bad_hcs, a.bad_fcs, a.oversize, a.skipped, self.ring.overflow, d.decoded,
                   d.malformed, d.unknown, d.encrypted, d.no_key, d.wrong_key))


def check_stream(data, good=None, locked=True, wh=False):
    # data fed through a fresh Checked pipeline, then a good frame (good = (bytes, number, probe
    # template), or a new one), with the heap locked on MicroPython unless locked is False.
    # Returns [] when nothing went wrong, else what did; an exception escapes only when it also
    # happens with the heap unlocked (so that it comes with a traceback).
    setup()
    if good is None:
        p, k = probe(1)
        good = (p, 1, k)
    p, number, k = good
    fp, maker, fp_wh = _PROBE_WANT[k]
    if wh:
        fp = fp_wh
    term = terminator()
    data = bytearray(data)
    p = bytearray(p)
    c = Checked()
    c.decoder.kamstrup_energy_in_wh = wh
    res = [None, -1]
    if _MPY:
        gc.collect()
    if locked:
        micropython.heap_lock()
    try:
        c.feed(data, 0, len(data))
        res[1] = c.probe(p, 0, len(p), number, fp, maker, term, 0, len(term))
    except Exception as e:  # noqa: BLE001
        res[0] = e
    finally:
        if locked:
            micropython.heap_unlock()
    if res[0] is not None:
        if locked:
            check_stream(data, good, False, wh)  # raises here, with a traceback, unless only the lock made it fail
            return ["%r with the heap locked (something allocated)" % (res[0],)]
        raise res[0]
    out = c.errors()
    LAST_OUTCOME[0] = res[1]
    if res[1] >= P_MISSING:
        out.append("the good frame after it: " + P_NAMES[res[1]])
    return out


LAST_OUTCOME = [-1]  # what became of the good frame in check_stream's last run (P_OK ...)


def regression_good(r):
    # the good frame of a fuzz_regressions.jsonl record, as check_stream takes it (None: a new one)
    g = r.get("good")
    if not g:
        return None
    k = [i for i, (t, _) in enumerate(PROBES) if t.name == g["template"]][0]
    return bytes.fromhex(g["hex"]), g["number"], k


# ---------------------------------------------------------------------------------------------
# The MicroPython run: batches generated unlocked, fed locked, checked unlocked

_POOL = 384 * 1024  # bytes of inputs per batch: run with -X heapsize=8M (the templates of every layer take much of the default 2 MiB)
_BATCH = 1024  # inputs per batch at most
_PROBE_EVERY = 16
_P1_SHARE = 40  # P1 inputs: one for every 40 HDLC ones (a telegram is 700 bytes of text, parsed byte by byte)
_P1_MIN = 500
_MBUS_SHARE = 20  # M-Bus inputs: one for every 20 HDLC ones
_MBUS_MIN = 1000
K_JUNK = 0
K_BURST = 1
K_PROBE = 2
K_APDU = 3  # a mutated APDU handed to Decoder.apdu in a buffer of its own size: a read past its end raises


def _now():
    import time

    if _MPY:
        return time.ticks_ms()
    return int(time.monotonic() * 1000)


def _elapsed(t0):
    import time

    return (time.ticks_diff(time.ticks_ms(), t0) if _MPY else _now() - t0) / 1000


class Runner:
    def __init__(self, seed_):
        self.seed = seed_
        self.pool = bytearray(_POOL)
        self.starts = array("i", bytes(4 * (_BATCH + 1)))
        self.kinds = bytearray(_BATCH)
        self.aux = array("i", bytes(4 * _BATCH))  # probe: its number
        self.aux2 = array("i", bytes(4 * _BATCH))  # probe: its template
        self.term = bytearray(terminator())
        self.names = [None] * _BATCH  # what each junk input was, for the report
        self.view = memoryview(self.pool)
        self.apdus = [None] * _BATCH  # K_APDU inputs: views of exactly their length into the pool
        self.count = 0
        self.checked = Checked()
        self.probe_number = 0
        self.fail_k = -1
        self.fail_why = ""
        self.fail_exc = None
        self.inputs = 0
        self.bytes = 0
        self.kind_counts = {}
        self.gen_retries = 0  # inputs made again because the generator ran out of heap

    def generate(self, batch, n):
        # fills the pool with up to n inputs; every _PROBE_EVERY-th is a probe
        random.seed(self.seed * 1000003 + batch)
        pool = self.pool
        apdus = self.apdus
        for i in range(_BATCH):
            apdus[i] = None
        gc.collect()
        p = 0
        k = 0
        while k < n:
            try:
                if k % _PROBE_EVERY == _PROBE_EVERY - 1:
                    self.probe_number += 1
                    data, t = probe(self.probe_number, getrandbits(2) == 0)
                    kind, name = K_PROBE, "probe"
                    self.aux[k] = self.probe_number
                    self.aux2[k] = t
                elif getrandbits(4) == 0:
                    t = choice(TEMPLATES)
                    kind, name = K_APDU, "direct"
                    data = mutate_apdu(t.apdu, t)
                else:
                    name, data = junk()
                    kind = K_BURST if getrandbits(8) == 0 else K_JUNK
                    if kind == K_BURST:
                        name = "burst"
                        data = data + choice(RAW_FRAMES) * 4 + r_random(b"")
            except MemoryError:  # the generator's own garbage in a 2 MiB heap: collect and make another
                self.gen_retries += 1
                gc.collect()
                continue
            if p + len(data) > len(pool):
                break
            pool[p : p + len(data)] = data
            if kind == K_APDU:
                apdus[k] = self.view[p : p + len(data)]
            self.starts[k] = p
            self.kinds[k] = kind
            self.names[k] = name
            self.kind_counts[name] = self.kind_counts.get(name, 0) + 1
            p += len(data)
            k += 1
        self.starts[k] = p
        self.count = k
        return p

    def feed(self, lo, hi):
        # inputs lo..hi-1 of the pool; stops at the first failure. Allocation-free.
        c = self.checked
        pool = self.pool
        starts = self.starts
        kinds = self.kinds
        want = _PROBE_WANT
        term = self.term
        tl = len(term)
        k = lo
        try:
            while k < hi:
                kind = kinds[k]
                if kind == K_PROBE:
                    w = want[self.aux2[k]]
                    fp = w[2] if c.decoder.kamstrup_energy_in_wh else w[0]
                    r = c.probe(pool, starts[k], starts[k + 1], self.aux[k], fp, w[1], term, 0, tl)
                    if r >= P_MISSING:
                        self.fail_k = k
                        self.fail_why = P_NAMES[r]
                        return
                elif kind == K_BURST:
                    c.burst(pool, starts[k], starts[k + 1])
                elif kind == K_APDU:
                    a = self.apdus[k]
                    c.apdu(a, 0, len(a))
                else:
                    c.feed(pool, starts[k], starts[k + 1])
                k += 1
        except Exception as e:  # noqa: BLE001  an escaping exception is what the fuzzer looks for
            self.fail_k = k
            self.fail_exc = e

    def run_batch(self, batch, n):
        size = self.generate(batch, n)
        self.checked.decoder.kamstrup_energy_in_wh = batch % 3 == 2  # Swedish Kamstrup energy in Wh
        self.checked.decoder.cipher = self.checked.ciphers[batch & 3]  # both keys, none, the key alone
        gc.collect()
        before = gc.mem_alloc() if _MPY else 0
        micropython.heap_lock()
        try:
            self.feed(0, self.count)
        finally:
            micropython.heap_unlock()
        after = gc.mem_alloc() if _MPY else 0
        self.inputs += self.count
        self.bytes += size
        if self.fail_k >= 0:
            return False
        if after != before:
            self.fail_why = "heap grew by %d bytes under the lock" % (after - before)
            return False
        errs = self.checked.errors()
        if errs:
            self.fail_why = "; ".join(errs)
            return False
        return True

    def report_failure(self, batch):
        k = self.fail_k
        print("fuzz_mpy: FAIL seed %d batch %d input %d (%s): %s"
              % (self.seed, batch, k, self.names[k] if k >= 0 else "-",
                 repr(self.fail_exc) if self.fail_exc is not None else self.fail_why))
        a = self.checked.asm
        print("fuzz_mpy: state: window %d bytes, need %d, joining %s, dropping %s; probe hits %d, swallowed %d; %s"
              % (a._n, a._need, a._joining, a._dropping, self.checked.tap.hits, a.swallowed,
                 self.checked.summary()))
        if k < 0:
            return
        gc.collect()
        if self.kinds[k] == K_APDU:
            a = bytearray(self.apdus[k])
            print("fuzz_mpy: APDU hex (to Decoder.apdu in a buffer of its length):", bytes(a).hex())
            try:
                Decoder().apdu(a, 0, len(a))
                print("fuzz_mpy: replayed on a fresh decoder: no failure")
            except Exception as e:  # noqa: BLE001
                print("fuzz_mpy: replayed on a fresh decoder: raised")
                if _MPY:
                    sys.print_exception(e)
                else:
                    import traceback

                    traceback.print_exc()
            return
        starts = self.starts
        pool = self.pool
        one = bytes(pool[starts[k] : starts[k + 1]])
        good = (one, self.aux[k], self.aux2[k]) if self.kinds[k] == K_PROBE else None
        print("fuzz_mpy: input hex:", one.hex())
        # replay on a fresh pipeline with more and more of the inputs before it, until it happens again
        for n in (0, 8, 64, k):
            if n > k or (n == 0 and good):
                continue
            before = bytes(pool[starts[k - n] : starts[k]])
            data = before if good else before + one
            what = "with the %d inputs before it" % n
            try:
                errs = check_stream(data, good)
            except Exception as e:  # noqa: BLE001
                errs = ["raised %r" % (e,)]
                print("fuzz_mpy: replayed %s on a fresh pipeline: raised" % what)
                if _MPY:
                    sys.print_exception(e)
                else:
                    import traceback

                    traceback.print_exc()
            print("fuzz_mpy: replayed %s on a fresh pipeline: %s" % (what, "; ".join(errs) or "no failure"))
            if errs:
                name = "%s/build/fuzz-failure-%d-%d-%d.hex" % (ROOT, self.seed, batch, k)
                try:
                    import os

                    os.mkdir(ROOT + "/build")
                except OSError:
                    pass
                with open(name, "w") as f:
                    f.write((data + (one if good else b"")).hex() + "\n")
                print("fuzz_mpy: the stream that does it (%d bytes%s) is in %s"
                      % (len(data) + (len(one) if good else 0), ", the good frame last" if good else "", name))
                return


def replay(paths):
    # hex files (fuzz-failure-*.hex) or .jsonl files of {"id", "hex"} lines, each fed through a
    # fresh pipeline with the heap locked and followed by a good frame; prints one line each
    import json

    failed = n = 0
    for path in paths:
        with open(path) as f:
            lines = [x.strip() for x in f if x.strip()]
        for i, line in enumerate(lines):
            r = json.loads(line) if line[0] == "{" else {"id": "%s:%d" % (path, i + 1), "hex": line}
            try:
                errs = check_stream(bytes.fromhex(r["hex"]), regression_good(r), True, r.get("kamstrup_energy_in_wh", False))
                want = r.get("outcome", P_NAMES[P_OK])
                if not errs and P_NAMES[LAST_OUTCOME[0]] != want:
                    errs = ["the good frame after it: %s, not %s" % (P_NAMES[LAST_OUTCOME[0]], want)]
            except Exception as e:  # noqa: BLE001
                if _MPY:
                    sys.print_exception(e)
                errs = ["raised %r" % (e,)]
            n += 1
            failed += bool(errs)
            print("fuzz_mpy: %s: %s" % (r["id"], "; ".join(errs) or "ok"))
    print("fuzz_mpy: replayed %d, %d failed" % (n, failed))
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------
# P1 telegrams: mutated text through RingBuffer -> p1.Decoder under heap_lock (docs/fuzzing.md, "P1")

P1_TELEGRAMS = []  # every corpus telegram, with or without its CRC
P1_PROBES = []  # (telegram, fingerprint of its decode): those with a CRC
_P1_CHARS = b"/!()*.-:\r\n0123456789ABCDEFSWkWhVvarA \\"
_P1_UNITS = (b"kW", b"W", b"kWh", b"Wh", b"kvar", b"kVArh", b"V", b"kV", b"A", b"m3", b"", b"s", b"MWh", b"VA", b"*")
_P1_CODES = []  # "C.D.E" of every code the table knows, and DSMR's specials


def p1_crc(data):
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def p1_seal(body, how):
    # body ends with "!": 0 a right CRC, 1 a wrong one, 2 none (DSMR 2/3), 3 two digits only
    if how == 0:
        return body + b"%04X\r\n" % p1_crc(body)
    if how == 1:
        return body + b"%04X\r\n" % (p1_crc(body) ^ (1 + getrandbits(16) % 0xFFFF))
    if how == 2:
        return body + b"\r\n"
    return body + b"%02X\r\n" % getrandbits(8)


def _p1_line():
    # a random object line: a known code (or one next to it), a value of any shape, a unit
    code = choice(_P1_CODES) if getrandbits(3) else b"%d.%d.%d" % (getrandbits(8), getrandbits(8), getrandbits(8))
    ab = choice((b"1-0", b"0-0", b"0-1", b"1-3", b"%d-%d" % (getrandbits(4), getrandbits(4))))
    r = getrandbits(3)
    digits = bytes(0x30 + getrandbits(16) % 10 for _ in range(getrandbits(5)))
    if r == 0:
        value = b"9" * randint(10, 40)
    elif r == 1:
        value = digits[: len(digits) // 2] + b"." + digits[len(digits) // 2 :]
    elif r == 2:
        value = b"-" + digits
    elif r == 3:
        value = b"%02d%02d%02d%02d%02d%02d%s" % (getrandbits(7), getrandbits(4), getrandbits(5), getrandbits(5),
                                                  getrandbits(6), getrandbits(6), choice((b"S", b"W", b"X")))
    elif r == 4:
        value = rbytes(getrandbits(5))
    else:
        value = digits
    unit = choice(_P1_UNITS)
    group = b"(" + value + (b"*" + unit if unit else b"") + b")"
    if getrandbits(2) == 0:
        group = b"(250107181500W)" + group  # the Belgian month peak's form
    return ab + b":" + code + group


def p1_mutate(body):
    # body: a telegram up to its "!" (exclusive); one to three text-aware mutations
    for _ in range(1 + getrandbits(1) + getrandbits(1)):
        r = getrandbits(4)
        lines = body.split(b"\r\n")
        if r == 0:
            body = m_bitflip(body, None)
        elif r == 1:
            a = bytearray(body)
            for _ in range(1 + getrandbits(2)):
                if a:
                    a[getrandbits(16) % len(a)] = choice(_P1_CHARS)
            body = bytes(a)
        elif r == 2:
            body = m_delete(body, None)
        elif r == 3:
            body = m_duplicate(body, None)
        elif r == 4:
            body = m_insert_random(body, None)
        elif r == 5 and len(lines) > 2:
            del lines[randint(1, len(lines) - 1)]
            body = b"\r\n".join(lines)
        elif r == 6 and len(lines) > 2:
            i = randint(1, len(lines) - 1)
            lines.insert(i, lines[randint(1, len(lines) - 1)])
            body = b"\r\n".join(lines)
        elif r in (7, 8, 9, 10):
            lines.insert(randint(1, len(lines)), _p1_line())
            body = b"\r\n".join(lines)
        elif r == 11:
            lines.insert(randint(1, len(lines)), b"0-0:96.13.0(" + b"41" * randint(60, 1100) + b")")  # a text message
            body = b"\r\n".join(lines)
        elif r == 12:
            body = m_truncate(body, None)
        elif r == 13 and len(lines) > 2:
            i = randint(1, len(lines) - 1)
            lines[i] = lines[i].replace(b"\r", b"").replace(b"*", b"*k" if getrandbits(1) else b"")
            body = b"\r\n".join(lines)
        else:
            body = b"/" + rbytes(getrandbits(4)) + body[1:] if body else body  # another ident
    return body


def p1_junk():
    # one input: (name, bytes)
    t = choice(P1_TELEGRAMS)
    body = t[: t.index(b"!")] if b"!" in t else t
    r = getrandbits(4)
    if r < 10:  # mutated, then sealed: a right CRC three times in four, so the lines reach the parser
        how = 0 if getrandbits(2) else getrandbits(2)
        return "p1-text", p1_seal(p1_mutate(body) + b"!", how)
    if r < 12:  # raw bytes mutated: the CRC mostly broken
        return "p1-raw", m_bitflip(t, None) if getrandbits(1) else m_byteset(t, None)
    if r < 13:  # cut anywhere, CRC digits included
        return "p1-cut", t[: getrandbits(16) % (len(t) + 1)]
    if r < 14:  # noise with "/" and "!" in it
        a = bytearray(rbytes(getrandbits(10)))
        for _ in range(getrandbits(3)):
            if a:
                a[getrandbits(16) % len(a)] = choice(b"/!\r\n")
        return "p1-random", bytes(a)
    if r < 15:  # an HDLC frame: a Norwegian meter on a P1 setting
        return "p1-hdlc", choice(RAW_FRAMES)
    return "p1-capture", t


class P1Checked:
    # RingBuffer -> p1.Decoder, fed like Checked.feed; each reading checked in on_reading
    def __init__(self):
        self.decoder = p1.Decoder(self._on_reading)
        self.ring = RingBuffer()
        self.scratch = bytearray(64)
        self.inbox = bytearray(64)
        self.sizes = bytearray(1 + getrandbits(6) for _ in range(4096))
        self.ci = 0
        self.messages = 0
        self.last_fp = -1
        self.bad_value = 0  # readings with a number or text out of range

    def _on_reading(self, rd):
        self.messages += 1
        self.last_fp = fingerprint(rd)
        for f in range(NUMERIC):
            if rd.present[f] and not (0 <= rd.lo[f] < 65536 and -_MASK30 - 1 <= rd.hi[f] <= _MASK30):
                self.bad_value += 1
        for f in range(NUMERIC, FIELDS):
            if rd.present[f] and rd.text_len[f] > 32:
                self.bad_value += 1

    def feed(self, src, s, e):
        ring = self.ring
        dec = self.decoder
        sc = self.scratch
        box = self.inbox
        sizes = self.sizes
        ci = self.ci
        while s < e:
            c = sizes[ci]
            ci = (ci + 1) & 4095
            if c > e - s:
                c = e - s
            copy(sc, 0, src, s, c)
            ring.put(sc, c)
            n = ring.get(box)
            if n:
                dec.feed(box, n)
            s += c
        self.ci = ci


def p1_run(total, seed_, pool, starts):
    # total inputs in batches, through the pool (the HDLC run's: the unix port's heap holds one);
    # every 16th a good telegram that must decode once with its values
    random.seed(seed_ * 7919 + 1)
    probe_of = array("i", bytes(4 * _BATCH))  # -1 for junk, else the P1_PROBES index
    c = P1Checked()
    d = c.decoder
    names = {}
    inputs = slashes = size = 0
    t0 = _now()
    while inputs < total:
        n = min(_BATCH, total - inputs)
        gc.collect()
        p = k = 0
        while k < n:
            if k % _PROBE_EVERY == _PROBE_EVERY - 1:
                j = getrandbits(8) % len(P1_PROBES)
                name, data = "p1-probe", P1_PROBES[j][0]
            else:
                j = -1
                name, data = p1_junk()
            if p + len(data) > len(pool):
                break
            pool[p : p + len(data)] = data
            starts[k] = p
            probe_of[k] = j
            slashes += data.count(b"/")
            names[name] = names.get(name, 0) + 1
            p += len(data)
            k += 1
        starts[k] = p
        gc.collect()
        before = gc.mem_alloc() if _MPY else 0
        fail = None
        micropython.heap_lock()
        try:
            i = 0
            while i < k:
                m = c.messages
                c.feed(pool, starts[i], starts[i + 1])
                j = probe_of[i]
                if j >= 0:
                    if c.messages != m + 1 or c.last_fp != P1_PROBES[j][1]:
                        fail = i
                        break
                    d.crc_seen = i & 16 == 0  # after every other probe, telegrams without a CRC are taken again
                i += 1
        except Exception as e:  # noqa: BLE001  an escaping exception is what the fuzzer looks for
            fail = e
        finally:
            micropython.heap_unlock()
        after = gc.mem_alloc() if _MPY else 0
        inputs += k
        size += p
        errs = []
        if isinstance(fail, Exception):
            errs.append("raised %r" % (fail,))
        elif fail is not None:
            errs.append("probe %d: %d messages, fingerprint %d, want one with %d" % (fail, c.messages - m, c.last_fp, P1_PROBES[probe_of[fail]][1]))
        if after != before:
            errs.append("heap grew by %d bytes under the lock" % (after - before))
        if c.bad_value:
            errs.append("%d readings with values out of range" % c.bad_value)
        open_ = 1 if d._state else 0
        if fail is None and slashes != d.frames_ok + d.bad_crc + d.cut + open_:
            errs.append("telegrams begun %d != ok %d + bad_crc %d + cut %d + open %d" % (slashes, d.frames_ok, d.bad_crc, d.cut, open_))
        if d.no_crc > d.frames_ok:
            errs.append("no_crc %d > frames_ok %d" % (d.no_crc, d.frames_ok))
        if errs:
            print("fuzz_mpy: p1 FAIL seed %d after %d inputs: %s" % (seed_, inputs, "; ".join(errs)))
            bad = fail if isinstance(fail, int) else k - 1
            print("fuzz_mpy: p1 input %d of its batch, hex: %s" % (bad, bytes(pool[starts[bad] : starts[bad + 1]]).hex()))
            return 1
    s = _elapsed(t0)
    kinds = ", ".join("%s %d" % (x, names[x]) for x in sorted(names))
    print("fuzz_mpy: p1 kinds: " + kinds)
    print("fuzz_mpy: p1 OK %d inputs, %d bytes in %.1f s, heap unchanged under heap_lock; telegrams_ok=%d bad_crc=%d no_crc=%d cut=%d skipped=%d"
          % (inputs, size, s, d.frames_ok, d.bad_crc, d.no_crc, d.cut, d.skipped))
    return 0


def p1_setup():
    if P1_TELEGRAMS:
        return
    for r in records("p1"):
        P1_TELEGRAMS.append(r["bytes"])
        if r["crc_ok"]:
            got = []
            dd = p1.Decoder(lambda rd: got.append(fingerprint(rd)))
            dd.feed(r["bytes"], len(r["bytes"]))
            P1_PROBES.append((r["bytes"] + b"\r\n", got[0]))
    for k in sorted(CODES):
        _P1_CODES.append(b"%d.%d.%d" % (k >> 16, k >> 8 & 0xFF, k & 0xFF))
    _P1_CODES.extend((b"96.1.1", b"1.6.0", b"1.8.1", b"2.8.2", b"24.2.1", b"99.97.0", b"96.14.0"))



# ---------------------------------------------------------------------------------------------
# M-Bus long frames: mutated frames through RingBuffer -> mbus.Assembler -> Decoder under heap_lock
# (docs/fuzzing.md, "M-Bus")

MBUS_MESSAGES = []  # the corpus' M-Bus streams as sent (ciphered with keys not set here: wrong key), and its negative one


def _mbus_split(data):
    # the frames of a stream of good long frames
    out = []
    i = 0
    while i + 4 <= len(data):
        n = data[i + 1]
        if n < 5:
            n += 256
        out.append(data[i : i + n + 6])
        i += n + 6
    return out


def mbus_junk():
    # one input: (name, bytes)
    t = choice(TEMPLATES)
    size = randint(1, 255) if getrandbits(2) == 0 else randint(200, 255)
    r = getrandbits(4)
    if r < 6:  # an APDU mutated, then in good frames: reaches the decoder
        return "mbus-apdu", mbus_frames(mutate_apdu(t.apdu, t), size, choice((0x53, 0x73, getrandbits(8))))
    if r < 8:  # good frames, bytes mutated: checksums mostly broken
        f = mbus_frames(t.apdu, size)
        return "mbus-raw", m_bitflip(f, None) if getrandbits(1) else m_byteset(f, None)
    if r < 9:  # cut anywhere
        f = mbus_frames(t.apdu, size)
        return "mbus-cut", f[: getrandbits(16) % (len(f) + 1)]
    if r < 11:  # segments lost, repeated or reordered
        frames = _mbus_split(mbus_frames(t.apdu if getrandbits(1) else mutate_apdu(t.apdu, t), randint(20, 120)))
        for _ in range(1 + getrandbits(2)):
            i = getrandbits(8) % len(frames)
            op = getrandbits(2)
            if op == 0 and len(frames) > 1:
                del frames[i]
            elif op == 1:
                frames.insert(getrandbits(8) % (len(frames) + 1), frames[i])
            else:
                frames[i], frames[-1] = frames[-1], frames[i]
        return "mbus-order", b"".join(frames)
    if r < 12:  # the corpus' streams, as they are or with a byte changed
        m = choice(MBUS_MESSAGES)
        return "mbus-corpus", m if getrandbits(1) else m_byteset(m, None)
    if r < 13:  # a frame with any CI, any length byte
        body = bytes((0x53, 0xFF, getrandbits(8), 1, 0x67)) + rbytes(getrandbits(8))
        n = len(body) & 0xFF if getrandbits(3) else getrandbits(8)
        return "mbus-ci", bytes((0x68, n, n, 0x68)) + body + bytes((sum(body) & 0xFF, 0x16))
    if r < 14:  # noise rich in start and stop bytes and length pairs
        a = bytearray(rbytes(getrandbits(9)))
        for _ in range(getrandbits(4)):
            if len(a) > 4:
                i = getrandbits(16) % (len(a) - 3)
                n = getrandbits(8)
                a[i : i + 4] = bytes((0x68, n, n, 0x68)) if getrandbits(1) else b"\x16\x68"
        return "mbus-random", bytes(a)
    if r < 15:  # general block transfer inside M-Bus messages: blocks lost, cut or with a wrong header
        blocks = gbt_blocks(t.apdu if getrandbits(1) else mutate_apdu(t.apdu, t), randint(16, 240))
        if getrandbits(1):
            i = getrandbits(8) % len(blocks)
            b = bytearray(blocks[i])
            b[getrandbits(8) % min(len(b), 8)] = getrandbits(8)
            blocks[i] = bytes(b)
        if getrandbits(2) == 0 and len(blocks) > 1:
            del blocks[getrandbits(8) % len(blocks)]
        return "mbus-blocks", b"".join(mbus_frames(b, randint(100, 255)) for b in blocks)
    return "mbus-hdlc", choice(RAW_FRAMES)  # a Norwegian meter on an M-Bus setting


class CountedMbus(mbus.Assembler):
    # the real M-Bus assembler; _segment wrapped to count the bytes of every good frame
    def __init__(self, on_apdu):
        mbus.Assembler.__init__(self, on_apdu)
        self.segments = 0
        self.frame_bytes = 0

    def _segment(self, w, start, end, ci):
        self.segments += 1
        self.frame_bytes = (self.frame_bytes + self.frame_end - self.frame_start) & _MASK30
        mbus.Assembler._segment(self, w, start, end, ci)


class MbusChecked:
    # RingBuffer -> mbus.Assembler -> Tap -> Decoder, fed like Checked.feed
    def __init__(self):
        self.decoder = Decoder(key=KEY)
        self.decoder.blocks = Blocks()  # made up front: the decoder would make it at the first block, under the lock
        self.tap = Tap(self.decoder)
        self.asm = CountedMbus(self.tap.on_apdu)
        self.ring = RingBuffer()
        self.scratch = bytearray(64)
        self.inbox = bytearray(64)
        self.zeros = bytearray(64)
        self.sizes = bytearray(1 + getrandbits(6) for _ in range(4096))
        self.ci = 0
        self.fed = 0
        self.flushed = 0

    def feed(self, src, s, e):
        ring = self.ring
        asm = self.asm
        sc = self.scratch
        box = self.inbox
        sizes = self.sizes
        ci = self.ci
        while s < e:
            c = sizes[ci]
            ci = (ci + 1) & 4095
            if c > e - s:
                c = e - s
            copy(sc, 0, src, s, c)
            ring.put(sc, c)
            n = ring.get(box)
            if n:
                self.fed = (self.fed + n) & _MASK30
                asm.feed(box, n)
            s += c
        self.ci = ci

    def flush(self):
        # zeros until the assembler holds nothing: a header left waiting by the junk fails its checksum
        while self.asm._n:
            self.flushed += 64
            self.feed(self.zeros, 0, 64)

    def errors(self):
        out = []
        d = self.decoder
        a = self.asm
        t = self.tap
        b = d.blocks
        counted = d.decoded + d.malformed + d.unknown + d.no_key + d.wrong_key
        if counted + b.blocks - b.messages != t.delivered:
            out.append("decoder counted %d APDUs and held %d blocks, %d were delivered" % (counted, b.blocks - b.messages, t.delivered))
        if d.encrypted != t.ciphered:
            out.append("decoder counted %d ciphered APDUs, %d were delivered" % (d.encrypted, t.ciphered))
        if a.frames_ok != a.segments:
            out.append("frames_ok %d but %d frames reached segment handling" % (a.frames_ok, a.segments))
        if (a.skipped + a.frame_bytes + a._n) & _MASK30 != self.fed:
            out.append("skipped %d + good frames %d + window %d != fed %d" % (a.skipped, a.frame_bytes, a._n, self.fed))
        if t.bad_values:
            out.append("%d readings with values out of range" % t.bad_values)
        return out


def mbus_run(total, seed_, pool, starts):
    # total inputs in batches through the pool; every 16th a Norwegian probe APDU in good M-Bus
    # segments, after zeros that end any header the junk left waiting: it must decode exactly once
    random.seed(seed_ * 7919 + 2)
    probe_of = array("i", bytes(4 * _BATCH))  # -1 for junk, else the PROBES index
    c = MbusChecked()
    tap = c.tap
    names = {}
    inputs = size = probes = 0
    t0 = _now()
    while inputs < total:
        n = min(_BATCH, total - inputs)
        gc.collect()
        p = k = 0
        while k < n:
            if k % _PROBE_EVERY == _PROBE_EVERY - 1:
                j = getrandbits(8) % len(PROBES)
                t, pos = PROBES[j]
                a = t.apdu[:pos] + ("Z%011d" % (inputs + k)).encode() + t.apdu[pos + _MARKER :]
                name, data = "mbus-probe", mbus_frames(a, randint(30, 255))
            else:
                j = -1
                name, data = mbus_junk()
            if p + len(data) > len(pool):
                break
            pool[p : p + len(data)] = data
            starts[k] = p
            probe_of[k] = j
            names[name] = names.get(name, 0) + 1
            p += len(data)
            k += 1
        starts[k] = p
        gc.collect()
        before = gc.mem_alloc() if _MPY else 0
        fail = None
        micropython.heap_lock()
        try:
            i = 0
            while i < k:
                j = probe_of[i]
                if j >= 0:
                    c.flush()
                    m = tap.marker
                    m[0] = 0x5A
                    v = inputs + i
                    for q in range(_MARKER - 1):
                        m[_MARKER - 1 - q] = 0x30 + v % 10
                        v //= 10
                    w = _PROBE_WANT[j]
                    tap.want_fp = w[0]
                    tap.want_maker = w[1]
                    tap.hits = 0
                    b = tap.bad_probe
                    c.feed(pool, starts[i], starts[i + 1])
                    tap.want_fp = -1
                    probes += 1
                    if tap.hits != 1 or tap.bad_probe != b:
                        fail = i
                        break
                else:
                    c.feed(pool, starts[i], starts[i + 1])
                i += 1
        except Exception as e:  # noqa: BLE001  an escaping exception is what the fuzzer looks for
            fail = e
        finally:
            micropython.heap_unlock()
        after = gc.mem_alloc() if _MPY else 0
        inputs += k
        size += p
        errs = c.errors()
        if isinstance(fail, Exception):
            errs.append("raised %r" % (fail,))
        elif fail is not None:
            errs.append("probe %d: decoded %d times with its values, %d with wrong ones" % (fail, tap.hits, tap.bad_probe))
        if after != before:
            errs.append("heap grew by %d bytes under the lock" % (after - before))
        if errs:
            print("fuzz_mpy: mbus FAIL seed %d after %d inputs: %s" % (seed_, inputs, "; ".join(errs)))
            bad = fail if isinstance(fail, int) else k - 1
            print("fuzz_mpy: mbus input %d of its batch, hex: %s" % (bad, bytes(pool[starts[bad] : starts[bad + 1]]).hex()))
            return 1
    s = _elapsed(t0)
    a = c.asm
    d = c.decoder
    kinds = ", ".join("%s %d" % (x, names[x]) for x in sorted(names))
    print("fuzz_mpy: mbus kinds: " + kinds)
    print("fuzz_mpy: mbus OK %d inputs (%d probes), %d bytes in %.1f s, heap unchanged under heap_lock; frames_ok=%d "
          "bad_checksum=%d bad_sequence=%d oversize=%d other_ci=%d skipped=%d blocks=%d joined=%d lost=%d decoded=%d "
          "malformed=%d unknown=%d encrypted=%d"
          % (inputs, probes, size, s, a.frames_ok, a.bad_checksum, a.bad_sequence, a.oversize, a.other_ci, a.skipped,
             d.blocks.blocks, d.blocks.messages, d.blocks.lost, d.decoded, d.malformed, d.unknown, d.encrypted))
    return 0


def mbus_setup():
    if MBUS_MESSAGES:
        return
    for r in records("mbus", "encrypted"):
        if r["framing"] == "mbus":
            MBUS_MESSAGES.append(r["bytes"])


def main(argv):
    if len(argv) > 1 and argv[1] == "--replay":
        setup()
        return replay(argv[2:])
    total = int(argv[1].replace("_", "").replace(",", "")) if len(argv) > 1 else 2000000
    seed_ = int(argv[2]) if len(argv) > 2 else 1
    setup(seed_)
    run = Runner(seed_)
    print("fuzz_mpy: %d inputs, seed %d, %d templates (%d for probes), %d raw captures, %s %s"
          % (total, seed_, len(TEMPLATES), len(PROBES), len(RAW_FRAMES), sys.implementation.name,
             ".".join(str(x) for x in sys.implementation.version[:3])))
    t0 = _now()
    batch = 0
    next_report = 100000
    while run.inputs < total:
        n = total - run.inputs
        if n > _BATCH:
            n = _BATCH
        if not run.run_batch(batch, n):
            run.report_failure(batch)
            return 1
        batch += 1
        if run.inputs >= next_report or run.inputs >= total:
            s = _elapsed(t0)
            print("fuzz_mpy: %d inputs, %d MB, %.0f s, %.0f inputs/s; %s"
                  % (run.inputs, run.bytes >> 20, s, run.inputs / s if s else 0, run.checked.summary()))
            next_report += 100000
    p1_setup()
    if p1_run(max(_P1_MIN, total // _P1_SHARE), seed_, run.pool, run.starts):
        return 1
    mbus_setup()
    if mbus_run(max(_MBUS_MIN, total // _MBUS_SHARE), seed_, run.pool, run.starts):
        return 1
    s = _elapsed(t0)
    c = run.checked
    out = c.outcomes
    kinds = ", ".join("%s %d" % (k, run.kind_counts[k]) for k in sorted(run.kind_counts))
    print("fuzz_mpy: kinds: " + kinds + "; generator out of heap %d times" % run.gen_retries)
    print("fuzz_mpy: probes %d: decoded %d; behind a waiting header: joined to an open segmented message %d, "
          "swallowed by a frame whose FCS matched by chance %d; %d needed a segmented message ended first; "
          "%d filler bytes after frames cut short" % (c.probes, out[P_OK], out[P_JOINED], out[P_SWALLOWED], c.closed, c.flushed))
    print("fuzz_mpy: OK %d inputs (%d probes), %d bytes in %.1f s, %.0f inputs/s, heap unchanged under heap_lock; %s"
          % (run.inputs, c.probes, run.bytes, s, run.inputs / s if s else 0, c.summary()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
