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

_COLD = ("add", "state", "restore")

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

    # The methods, in lib/cold.py (add, state, restore: once an hour) and lib/acct_json.py (peaks,
    # value, step, today_peak, live: for the JSON), loaded for each call and dropped again, so that
    # their code takes no RAM in between (docs/accounting.md, "Cost"). Their names are tariff_<name>:
    #   add(start, import Wh, export Wh, estimated) -> True when it was the month's last hour
    #   peaks(days=None) -> [(hour start, Wh)] counted for the month, highest first
    #   value(days=None) -> (sum Wh, count): the month's value is sum / count W
    #   step(s=None, c=None) -> (lower W, upper W or None) of the step the value is in
    #   today_peak(now=None) -> (hour start, import Wh) of today's highest completed hour, or None
    #   live(hour, so_far, power_w, now) -> (projected Wh, Wh left before the step rises or None, W the value may rise or None)

    def __getattr__(self, name):
        f = getattr(cold("cold" if name in _COLD else "acct_json"), "tariff_" + name)
        return lambda *a: f(self, *a)


def parse_kw(v):
    # a threshold in kW (an int, or a decimal like 2.5 or "2.5") -> W, exactly
    return cold().parse_kw(v)
