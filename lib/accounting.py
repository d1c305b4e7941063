# accounting.py Provides Accounting: clock hours of import and export energy from a meter's registers, split by power where registers were lost, and running totals.
# MIT license
#
# Fed with power readings (time, import W, export W) and register readings (time, import Wh,
# export Wh), times in UTC seconds since 2020 (caltime) taken from the meter's own clock. An hour's
# energy is the difference of the registers at its two boundaries ("register"). A register read
# within _SNAP_S after a quarter hour is the register at that quarter hour: the meters freeze list 3
# at hh:00:00 and send it at :05 to :55. When the registers at one or more boundaries are missing, the
# difference over the span is split over its hours in proportion to the power integrated in each
# ("estimated"); the parts sum to the difference exactly. Registers that go back (a new meter) start
# a new series; the hours between get the integrated power alone. Docs: docs/accounting.md.
# Ints only: power is integrated in watt-seconds, energy kept in Wh.

import json
from micropython import const

_HOUR = const(3600)
_QUARTER = const(900)
_SNAP_S = const(120)  # list 3 comes at hh:00:05 to hh:00:55 (protocol.md 1.2)
_HOLD_S = const(60)  # a power value stands until the next one, for at most this long
_MAX_SPAN = const(172800)  # registers missing for longer than 48 h: a new series, no hours guessed
_MAX_BUCKETS = const(50)
_STALE_WH = const(50)  # Aidon has repeated an hour's registers unchanged (protocol.md 5.1, amsreader #1119)
_VERSION = const(1)


class Accounting:
    def __init__(self, on_hour=None):
        self.on_hour = on_hour  # on_hour(start, import Wh, export Wh, estimated): each completed hour, in order
        self.res = 1  # the registers' resolution in Wh (Aidon and Kamstrup: 10): estimated parts come in it
        self.point = None  # [time, import Wh, export Wh]: the register at the last boundary
        self.part = None  # [hour start, import Wh, export Wh, 1 if estimated]: the hour holding the point, known from its start
        self.buckets = []  # [start, end, import Ws, export Ws, covered s] of power since the point, within one hour each
        self.last = None  # [time, import W, export W]: the last power reading
        self.now = None  # the latest meter time seen (for the repeated hour in October)
        self.base = None  # [import Wh, export Wh, import Ws, export Ws]: running totals, the register plus power since
        self.shown = [0, 0]  # running totals given out: never less than these

    # --- input ---

    def power(self, t, imp_w, exp_w):
        # a power reading; export None: unchanged (list 1 has import only)
        last = self.last
        if exp_w is None:
            exp_w = last[2] if last else 0
        if last is None or t < last[0]:
            self.last = [t if last is None else last[0], imp_w, exp_w]  # time does not go back
        else:
            end = t if t - last[0] <= _HOLD_S else last[0] + _HOLD_S
            self._integrate(last[0], end, last[1], last[2])
            self.last = [t, imp_w, exp_w]
        if self.now is None or t > self.now:
            self.now = t

    def register(self, t, imp, exp, res=None):
        # a register reading at meter time t, Wh
        if res:
            self.res = res
        if self.now is None or t > self.now:
            self.now = t
        p = self.point
        if p is not None and (imp < p[1] or exp < p[2]):
            self._new_meter(t, imp, exp)
            return
        q = t - t % _QUARTER
        if t - q >= _SNAP_S or p is not None and q <= p[0]:
            # read mid-quarter, or again after the quarter's (meters that send live registers
            # every few seconds): the running totals only
            self._rebase(t, imp, exp)
            return
        if p is None or q - p[0] > _MAX_SPAN:
            self._start(q, imp, exp)
        elif imp == p[1] and exp == p[2] and self._flow(q) >= _STALE_WH * _HOUR:
            return  # registers that did not move while power flowed: a stale repeat, as if lost
        else:
            self._span(q, imp, exp, False)
        self._rebase(q, imp, exp)

    # --- output ---

    def totals(self):
        # (import Wh, export Wh): the last register plus the power since, never decreasing; None
        # until a register has come since start or restore
        b = self.base
        if b is None:
            return None
        s = self.shown
        imp = b[0] + b[2] // _HOUR
        exp = b[1] + b[3] // _HOUR
        if imp > s[0]:
            s[0] = imp
        if exp > s[1]:
            s[1] = exp
        return s[0], s[1]

    def so_far(self):
        # (hour start, import Wh, export Wh) of the hour of the last power reading, so far
        if self.last is None:
            return None
        h = self.last[0] - self.last[0] % _HOUR
        imp = exp = 0
        for b in self.buckets:
            if b[0] >= h:
                imp += b[2]
                exp += b[3]
        imp, exp = imp // _HOUR, exp // _HOUR
        part = self.part
        if part is not None and part[0] == h:
            imp, exp = imp + part[1], exp + part[2]
        return h, imp, exp

    def present(self):
        # (import W, export W) of the last power reading, or None
        return None if self.last is None else (self.last[1], self.last[2])

    # --- the series ---

    def _start(self, q, imp, exp):
        self.point = [q, imp, exp]
        self.part = [q, 0, 0, 0] if q % _HOUR == 0 else None  # an hour entered midway is not whole
        self._take(q)

    def _new_meter(self, t, imp, exp):
        # registers went back: the hours up to this reading get the power integrated in them
        p = self.point
        q = t - t % _QUARTER
        if p[0] < q <= p[0] + _MAX_SPAN:
            self._span(q, imp, exp, True)
        else:
            self._start(q, imp, exp)
        self.shown = [0, 0]  # a new meter's totals start again (Home Assistant: a meter reset)
        self._rebase(q, imp, exp)

    def _span(self, q, imp, exp, new_meter):
        # the registers at q: the energy since the point goes into the hours of [point, q)
        p = self.point
        hours = []
        h = p[0] - p[0] % _HOUR
        while h < q:
            hours.append(h)
            h += _HOUR
        w = self._take(q, p[0], hours)  # [import Ws, export Ws, covered s] per hour
        if new_meter:
            r = self.res * _HOUR
            di = [(x[0] + r // 2) // r * self.res for x in w]
            de = [(x[1] + r // 2) // r * self.res for x in w]
        elif len(hours) == 1:
            di, de = [imp - p[1]], [exp - p[2]]
        else:
            spans = [min(q, h + _HOUR) - max(p[0], h) for h in hours]
            di = _split(imp - p[1], self.res, [x[0] for x in w], [x[2] for x in w], spans)
            de = _split(exp - p[2], self.res, [x[1] for x in w], [x[2] for x in w], spans)
        estimated = new_meter or len(hours) > 1
        for i in range(len(hours)):
            h = hours[i]
            if i > 0:
                self.part = [h, 0, 0, 0]
            part = self.part
            if part is not None:
                part[1] += di[i]
                part[2] += de[i]
                if estimated:
                    part[3] = 1
            if min(q, h + _HOUR) == h + _HOUR:  # the hour is complete
                if part is not None and self.on_hour:
                    self.on_hour(h, part[1], part[2], part[3] == 1)
                self.part = None
        if q % _HOUR == 0:
            self.part = [q, 0, 0, 0]
        self.point = [q, imp, exp]

    # --- power ---

    def _integrate(self, t0, t1, imp_w, exp_w):
        while t0 < t1:
            h = t0 - t0 % _HOUR
            e = min(t1, h + _HOUR)
            bs = self.buckets
            b = bs[-1] if bs else None
            if b is None or b[0] < h:  # one bucket per hour (gaps in it count as not covered)
                if len(bs) >= _MAX_BUCKETS:
                    bs.pop(0)
                b = [t0, t0, 0, 0, 0]
                bs.append(b)
            d = e - t0
            b[1] = e
            b[2] += imp_w * d
            b[3] += exp_w * d
            b[4] += d
            if self.base is not None:
                self.base[2] += imp_w * d
                self.base[3] += exp_w * d
            t0 = e

    def _take(self, q, since=None, hours=None):
        # removes the power before q; with hours, returns it per hour as [import Ws, export Ws, covered s]
        out = [[0, 0, 0] for _ in hours] if hours else None
        keep = []
        for b in self.buckets:
            if b[0] >= q:
                keep.append(b)
                continue
            if b[1] > q:  # a bucket across q: its part after q stays, in proportion to time
                n = b[1] - b[0]
                after = [q, b[1], b[2] * (b[1] - q) // n, b[3] * (b[1] - q) // n, b[4] * (b[1] - q) // n]
                keep.append(after)
                b = [b[0], q, b[2] - after[2], b[3] - after[3], b[4] - after[4]]
            if out is not None and b[0] >= since:
                i = (b[0] - hours[0]) // _HOUR
                o = out[i]
                o[0] += b[2]
                o[1] += b[3]
                o[2] += b[4]
        self.buckets = keep
        return out

    def _flow(self, q):
        # import plus export Ws integrated before q
        n = 0
        for b in self.buckets:
            if b[0] < q:
                n += b[2] + b[3]
        return n

    def _rebase(self, t, imp, exp):
        # running totals from this register: itself plus the power integrated since t
        bi = be = 0
        for b in self.buckets:
            if b[1] > t:
                n = b[1] - b[0]
                f = b[1] - max(t, b[0])
                bi += b[2] * f // n
                be += b[3] * f // n
        self.base = [imp, exp, bi, be]

    # --- state (docs/accounting.md) ---

    def state(self):
        return {"point": self.point, "part": self.part, "res": self.res, "now": self.now, "shown": self.shown}

    def restore(self, d):
        # from state(); the power since the point is gone, and the running totals wait for a register
        self.point = _ints(d, "point", 3)
        self.part = _ints(d, "part", 4)
        self.res = _int(d, "res")
        self.now = _int(d, "now", True)
        self.shown = _ints(d, "shown", 2) or [0, 0]
        self.buckets = []
        self.last = None
        self.base = None

    def to_bytes(self):
        return json.dumps(self.state()).encode()

    def from_bytes(self, data):
        try:
            d = json.loads(data)
        except ValueError:
            raise ValueError("accounting state: not JSON")
        if not isinstance(d, dict):
            raise ValueError("accounting state: not an object")
        self.restore(d)


def _split(total, res, weights, covered, spans):
    # total (a multiple of res) in parts per hour in proportion to the power integrated in each;
    # the time without power readings gets the energy the readings do not explain, evenly
    free = [max(0, spans[i] - covered[i]) for i in range(len(spans))]
    known = sum(weights)
    rest = max(0, total * _HOUR - known)
    nfree = sum(free)
    w = [weights[i] + (rest * free[i] // nfree if nfree else 0) for i in range(len(spans))]
    if sum(w) <= 0:
        w = spans  # nothing to go by: in proportion to time
    return apportion(total, res, w)


def apportion(total, res, weights):
    # total (a multiple of res) split in multiples of res in proportion to weights (ints >= 0, not
    # all 0); the largest remainders get the units left over, so the parts sum to total exactly
    units = total // res
    sw = sum(weights)
    parts = [units * w // sw for w in weights]
    left = units - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-(units * weights[i] % sw), i))
    for i in order[:left]:
        parts[i] += 1
    return [x * res for x in parts]


def _int(d, key, none=False):
    v = d.get(key)
    if v is None and none:
        return None
    if not isinstance(v, int):
        raise ValueError("accounting state: %s is not an integer" % key)
    return v


def _ints(d, key, n):
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, list) or len(v) != n or not all(isinstance(x, int) for x in v):
        raise ValueError("accounting state: %s is not a list of %d integers" % (key, n))
    return list(v)
