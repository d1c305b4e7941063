# tariff.py Provides Tariff: the hours of today and yesterday, the month's days and the year's months, and the capacity step (kapasitetsledd) with the live figures.
# MIT license
#
# Fed with completed clock hours (Accounting.on_hour) in order. A day's peak is its hour of most
# import; the month's value is the mean of its three highest daily peaks (on three different days;
# fewer while the month has fewer days), or with single=True its highest hour. The step is the
# first threshold the value does not exceed: a step's range includes its upper threshold, so a
# mean of exactly 5 kW is in 2-5. Ints only: energy in Wh, power and thresholds in W; an hour's
# Wh is its mean power in W, so the value is kept as a sum and a count and compared exactly.

from accounting import cold

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

    # --- the rest is in lib/cold.py, loaded for each use (docs/accounting.md, "Cost") ---

    def add(self, start, imp, exp, estimated):
        # a completed hour; True when it was the month's last
        return cold().tariff_add(self, start, imp, exp, estimated)

    def peaks(self, days=None):
        # [(hour start, Wh)] counted for the month, highest first (the earlier on a tie)
        return cold("acct_json").tariff_peaks(self, days)

    def value(self, days=None):
        # (sum Wh, count): the month's value is sum / count kW-hours per hour, i.e. W
        return cold("acct_json").tariff_value(self, days)

    def step(self, s=None, c=None):
        # (lower W, upper W or None) of the step the value (s, c) is in (the month's by default)
        return cold("acct_json").tariff_step(self, s, c)

    def today_peak(self, now=None):
        # (hour start, import Wh) of today's highest completed hour, or None; with now (UTC time),
        # None also when no hour of now's day has completed yet
        return cold("acct_json").tariff_today_peak(self, now)

    def live(self, hour, so_far, power_w, now):
        # (projected Wh at the end of the hour, Wh the hour may still use before the month's step
        # rises or None on the top step, W the month's value may rise before the next step or None)
        return cold("acct_json").tariff_live(self, hour, so_far, power_w, now)

    # --- state (the code is in lib/cold.py, loaded for each use) ---

    def state(self):
        return cold().tariff_state(self)

    def restore(self, d):
        cold().tariff_restore(self, d)


def parse_kw(v):
    # a threshold in kW (an int, or a decimal like 2.5 or "2.5") -> W, exactly
    return cold().parse_kw(v)
