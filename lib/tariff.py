# tariff.py Provides Tariff: the hours of today and yesterday, the month's days and the year's months, and the capacity step (kapasitetsledd) with the live figures.
# MIT license
#
# Fed with completed clock hours (Accounting.on_hour) in order. A day's peak is its hour of most
# import; the month's value is the mean of its three highest daily peaks (on three different days;
# fewer while the month has fewer days), or with single=True its highest hour. The step is the
# first threshold the value does not exceed: a step's range includes its upper threshold, so a
# mean of exactly 5 kW is in 2-5. Ints only: energy in Wh, power and thresholds in W; an hour's
# Wh is its mean power in W, so the value is kept as a sum and a count and compared exactly.

from micropython import const
import caltime

_HOUR = const(3600)
DEFAULT_STEPS_KW = (2, 5, 10, 15, 20, 25, 50, 75, 100)  # the common table (docs/energy-norway.md)


class Tariff:
    def __init__(self, thresholds_w=None, single=False):
        self.thresholds = sorted(thresholds_w or [k * 1000 for k in DEFAULT_STEPS_KW])
        self.single = single  # the month's single highest hour, not the mean of three daily peaks
        self.day = None  # local day number (caltime) of today
        self.today = []  # [start, import Wh, export Wh, 1 if estimated] per completed hour
        self.yesterday = []
        self.month = None  # year * 100 + month
        self.days = []  # [day number, peak hour start, peak Wh, import Wh, export Wh] per day of the month
        self.year = None
        self.months = []  # [year * 100 + month, import Wh, export Wh, value sum Wh, value count] per closed month

    def add(self, start, imp, exp, estimated):
        # a completed hour; True when it was the month's last
        y, m, d, _, _ = caltime.local(start)
        n = caltime.days(y, m, d)
        if self.month != y * 100 + m:
            if self.month is not None:
                self._close()
            if self.year != y:
                self.year, self.months = y, []
            self.month, self.days = y * 100 + m, []
        if self.day != n:
            self.yesterday = self.today if self.day == n - 1 else []
            self.day, self.today = n, []
        self.today.append([start, imp, exp, 1 if estimated else 0])
        e = self.days[-1] if self.days and self.days[-1][0] == n else None
        if e is None:
            self.days.append([n, start, imp, imp, exp])
        else:
            if imp > e[2]:
                e[1], e[2] = start, imp
            e[3] += imp
            e[4] += exp
        return caltime.local(start + _HOUR)[2:4] == (1, 0)

    def _close(self):
        s, c = self.value()
        self.months.append([self.month, sum(d[3] for d in self.days), sum(d[4] for d in self.days), s, c])

    # --- the month ---

    def peaks(self, days=None):
        # [(hour start, Wh)] counted for the month, highest first (the earlier on a tie)
        ds = sorted(self.days if days is None else days, key=lambda d: (-d[2], d[1]))
        return [(d[1], d[2]) for d in ds[: 1 if self.single else 3]]

    def value(self, days=None):
        # (sum Wh, count): the month's value is sum / count kW-hours per hour, i.e. W
        p = self.peaks(days)
        return sum(x[1] for x in p), len(p)

    def step(self, s=None, c=None):
        # (lower W, upper W or None) of the step the value (s, c) is in (the month's by default)
        if s is None:
            s, c = self.value()
        lo = 0
        for t in self.thresholds:
            if s <= t * max(c, 1):
                return lo, t
            lo = t
        return lo, None

    def today_peak(self, now=None):
        # (hour start, import Wh) of today's highest completed hour, or None; with now (UTC time),
        # None also when no hour of now's day has completed yet
        if now is not None and caltime.day_of(now) != self.day:
            return None
        best = None
        for h in self.today:
            if best is None or h[1] > best[1]:
                best = (h[0], h[1])
        return best

    # --- live, during an hour ---

    def live(self, hour, so_far, power_w, now):
        # for the hour starting at `hour` with so_far import Wh and power_w now (UTC time now):
        # (projected Wh at the end of the hour, Wh the hour may still use before the month's step
        # rises or None on the top step, W the month's value may rise before the next step or None)
        projected = so_far + power_w * max(0, hour + _HOUR - now) // _HOUR
        y, m, d, _, _ = caltime.local(hour)
        n = caltime.days(y, m, d)
        days = self.days if self.month == y * 100 + m else []
        others = [x for x in days if x[0] != n]
        s, c = self.value(days)
        lo, up = self.step(s, c)
        if up is None:
            return projected, None, None
        if self.single:
            most = up
        else:
            top = sorted((x[2] for x in others), reverse=True)[:2]
            most = (len(top) + 1) * up - sum(top)  # the peak today may reach, with the others kept
        return projected, max(0, most - so_far), (up * max(c, 1) - s) // max(c, 1)

    # --- state ---

    def state(self):
        return {"day": self.day, "today": self.today, "yesterday": self.yesterday, "month": self.month,
                "days": self.days, "year": self.year, "months": self.months}

    def restore(self, d):
        self.day = _opt_int(d, "day")
        self.month = _opt_int(d, "month")
        self.year = _opt_int(d, "year")
        self.today = _rows(d, "today", 4)
        self.yesterday = _rows(d, "yesterday", 4)
        self.days = _rows(d, "days", 5)
        self.months = _rows(d, "months", 5)


def _opt_int(d, key):
    v = d.get(key)
    if v is not None and not isinstance(v, int):
        raise ValueError("tariff state: %s is not an integer" % key)
    return v


def _rows(d, key, n):
    v = d.get(key)
    if not isinstance(v, list):
        raise ValueError("tariff state: %s is not a list" % key)
    for i in range(len(v)):
        r = v[i]
        if not isinstance(r, list) or len(r) != n or not all(isinstance(x, int) for x in r):
            raise ValueError("tariff state: %s[%d] is not a list of %d integers" % (key, i, n))
    return [list(r) for r in v]


def parse_kw(v):
    # a threshold in kW (an int, or a decimal like 2.5 or "2.5") -> W, exactly
    if isinstance(v, int) and not isinstance(v, bool):
        return v * 1000
    t = str(v)
    whole, _, frac = t.partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()) or len(frac) > 3:
        raise ValueError("tariff threshold %r: expected kW with at most 3 decimals" % (v,))
    return int(whole) * 1000 + int((frac + "000")[:3])
