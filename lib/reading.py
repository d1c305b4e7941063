# reading.py Provides Reading: one decoded meter message in preallocated storage, and its JSON form.
# MIT license

import json
from array import array
from micropython import const
from obis import NAMES, KINDS, NUMERIC, FIELDS, KIND_ENERGY, KIND_TEXT, field

_TEXT_MAX = const(32)  # longest string kept (meter ids are 16, Kamstrup types 18)

_LIST_VER = field("list_ver_id")
_METER_ID = field("meter_id")
_METER_TYPE = field("meter_type")
_CLOCK = field("meter_datetime")
_P_IMPORT = field("active_power_import")
_E_IMPORT = field("active_energy_import")


class Reading:
    # A number is hi * 65536 + lo scaled by 10**exp: both halves stay small ints on a 31-bit port.
    def __init__(self):
        self.present = bytearray(FIELDS)
        self.hi = array("i", bytes(4 * NUMERIC))
        self.lo = array("i", bytes(4 * NUMERIC))
        self.exp = array("b", bytes(NUMERIC))
        self.text = [bytearray(_TEXT_MAX) if k == KIND_TEXT else None for k in KINDS]  # text fields only: 1.5 KB less
        self.text_len = bytearray(FIELDS)
        self.clock = array("H", bytes(16))  # year, month, day, hour, minute, second, deviation, status (axdr.datetime)
        self.notification_clock = array("H", bytes(16))
        self.has_notification_clock = False
        self.manufacturer = None  # a constant str chosen by the layout, or None
        self.items = 0  # elements in the notification body

    def clear(self):
        p = self.present
        for i in range(FIELDS):
            p[i] = 0
        self.has_notification_clock = False
        self.manufacturer = None
        self.items = 0

    def set_number(self, f, hi, lo, exp):
        self.hi[f] = hi
        self.lo[f] = lo
        self.exp[f] = exp
        self.present[f] = 1

    def set_text(self, f, buf, start, n):
        if n > _TEXT_MAX:
            n = _TEXT_MAX
        while n and buf[start + n - 1] == 0:  # L+G pads meter ids with NULs
            n -= 1
        t = self.text[f]
        for i in range(n):
            t[i] = buf[start + i]
        self.text_len[f] = n
        self.present[f] = 1

    def has(self, name):
        return self.present[field(name)] == 1

    # --- everything below allocates: it is for publishing, not for the UART path ---

    def number(self, f):
        # (integer, exponent): the exact value is integer * 10**exponent
        return self.hi[f] * 65536 + self.lo[f], self.exp[f] - (3 if KINDS[f] == KIND_ENERGY else 0)

    def decimal(self, f):
        n, e = self.number(f)
        if e >= 0:
            return str(n * 10**e)
        sign = "-" if n < 0 else ""
        whole, frac = divmod(-n if n < 0 else n, 10**-e)
        frac = str(frac)
        return sign + str(whole) + "." + "0" * (-e - len(frac)) + frac

    def string(self, f):
        t = self.text[f]
        return "".join(chr(t[i]) if 32 <= t[i] < 127 else "?" for i in range(self.text_len[f]))

    def datetime(self):
        c = self.clock if self.present[_CLOCK] else self.notification_clock
        if not (self.present[_CLOCK] or self.has_notification_clock):
            return None
        return "%04d-%02d-%02dT%02d:%02d:%02d" % tuple(c[:6])

    def list_number(self):
        # NVE numbering: 1 = active power only, 3 = with energy registers, 2 = instantaneous values
        if self.present[_E_IMPORT] or self.present[_CLOCK]:
            return 3
        if self.items == 1 and self.present[_P_IMPORT]:
            return 1
        return 2

    def pairs(self):
        # [(key, JSON text)] of everything this message carries, in schema order. Numbers are
        # written from the scaled integers, so no float ever rounds them.
        out = []
        if self.manufacturer:
            out.append(("meter_manufacturer", json.dumps(self.manufacturer)))
        for f in (_LIST_VER, _METER_ID, _METER_TYPE):
            if self.present[f]:
                out.append((NAMES[f], json.dumps(self.string(f))))
        out.append(("list", str(self.list_number())))
        dt = self.datetime()
        if dt:
            out.append(("meter_datetime", json.dumps(dt)))
        for f in range(NUMERIC):
            if self.present[f]:
                out.append((NAMES[f], self.decimal(f)))
        return out

    def json(self, keys=None, extra=()):
        # the whole message, or the part of it named by `keys`, as a JSON object
        return to_json(self.pairs(), keys, extra)


def to_json(pairs, keys=None, extra=()):
    # a JSON object of the pairs whose key is in `keys` (all when None), then the `extra` pairs;
    # pairs made once by Reading.pairs() can serve several payloads of the same message
    items = [kv for kv in pairs if keys is None or kv[0] in keys]
    items.extend(extra)
    return "{" + ", ".join(json.dumps(k) + ": " + v for k, v in items) + "}"
