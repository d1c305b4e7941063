# ledger.py Provides Ledger: decoded readings into the accounting and the capacity tariff on the meter's clock, their saved state, and the hour and month JSON.
# MIT license
#
# A message with a clock (list 3; Kaifa and Kamstrup put one in every header) gives the meter's
# time; one without (Aidon lists 1 and 2) is placed by the dongle's seconds since the last clock,
# so a dongle whose clock is minutes off the meter's still books by the meter's. Aidon's list 3
# clock is the quarter hour its registers were frozen at; the message was sent 10 s later. Without dongle
# seconds (a capture without times, tools/han_decode.py), a list 2 message is taken as 10 s after
# the one before (the push interval of list 2 on every Norwegian meter, protocol.md 1.2).

import json
import os
from micropython import const
from obis import field
import caltime
from accounting import Accounting
from tariff import Tariff

_CLOCK = field("meter_datetime")
_P_IMP = field("active_power_import")
_P_EXP = field("active_power_export")
_E_IMP = field("active_energy_import")
_E_EXP = field("active_energy_export")
_LIST2_S = const(10)
_FROZEN_S = const(10)  # list 3 is sent this long after the quarter hour its clock shows (protocol.md 1.2)
_VERSION = const(1)


class Ledger:
    def __init__(self, thresholds_w=None, single=False, on_hour=None, on_month=None):
        self.tariff = Tariff(thresholds_w, single)
        self.acc = Accounting(self._hour)
        self.on_hour = on_hour  # on_hour(start, import Wh, export Wh, estimated)
        self.on_month = on_month  # on_month(): after the month's last hour, the month still current
        self.anchor = None  # (meter time, dongle seconds) of the last message with a clock
        self._guess = 0  # dongle seconds made up from list 2 messages, when none are given
        self.unreported = False  # hours added since on_month was last called
        self._register_t = None  # meter time of the last register message

    def _hour(self, start, imp, exp, estimated):
        done = self.tariff.add(start, imp, exp, estimated)
        self.unreported = True
        if self.on_hour:
            self.on_hour(start, imp, exp, estimated)
        if done and self.on_month:
            self.unreported = False
            self.on_month()

    def reading(self, rd, now_s=None):
        # one decoded message (reading.Reading); now_s: the dongle's seconds (clock.seconds())
        if now_s is None:
            if rd.list_number() != 1:
                self._guess += _LIST2_S
            now_s = self._guess
        at = None  # the meter's time of the registers: the clock in the body (list 3)
        if rd.present[_CLOCK]:
            at = caltime.to_utc(rd.clock, self.acc.now, self._register_t)
        if rd.has_notification_clock:  # the time it was sent
            t = caltime.to_utc(rd.notification_clock, self.acc.now)
        elif at is not None:  # Aidon and L+G freeze list 3's clock at hh:00:00 and send it at :10
            t = at + _FROZEN_S if rd.clock[4] % 15 == 0 and rd.clock[5] == 0 else at
        elif self.anchor is not None:
            t = self.anchor[0] + now_s - self.anchor[1]
        else:
            return  # no meter time yet: nothing can be placed
        if at is not None or rd.has_notification_clock:
            self.anchor = (t, now_s)
        if rd.present[_P_IMP]:
            exp = _whole(rd, _P_EXP, 0) if rd.present[_P_EXP] else None
            self.acc.power(t, _whole(rd, _P_IMP, 0), exp)
        if rd.present[_E_IMP] and rd.present[_E_EXP]:
            at = t if at is None else at
            self._register_t = at
            e = rd.number(_E_IMP)[1] + 3
            self.acc.register(at, _whole(rd, _E_IMP, 3), _whole(rd, _E_EXP, 3), 10**e if e > 0 else 1)

    # --- JSON, with the meter's decimals ---

    def decimals(self):
        d, r = 3, self.acc.res
        while r >= 10 and d > 0:
            d, r = d - 1, r // 10
        return d

    def hour_json(self, start, imp, exp, estimated):
        d = self.decimals()
        return '{"hour": "%s", "import_kwh": %s, "export_kwh": %s, "how": "%s"}' % (
            caltime.label(start), kilo(imp, d), kilo(exp, d), "estimated" if estimated else "register")

    def month_json(self):
        # the current month: its peaks, their value and its step; None before the first hour
        t = self.tariff
        if t.month is None:
            return None
        d = self.decimals()
        peaks = ", ".join('{"hour": "%s", "kwh": %s}' % (caltime.label(h), kilo(wh, d)) for h, wh in t.peaks())
        s, c = t.value()
        lo, up = t.step(s, c)
        mean = (2 * s * 10**d + c * 1000) // (2 * c * 1000) if c else 0  # rounded half up to d decimals
        return '{"month": "%04d-%02d", "peaks": [%s], "peak_mean_kw": %s, "step_kw": [%s, %s]}' % (
            t.month // 100, t.month % 100, peaks, _decimal(mean, d), kilo(lo, None), "null" if up is None else kilo(up, None))

    # --- state: at most about once an hour, after an hour's register ---

    def to_bytes(self):
        return json.dumps(self._state()).encode()

    def _state(self):
        return {"v": _VERSION, "acc": self.acc.state(), "tariff": self.tariff.state()}

    def from_bytes(self, data):
        try:
            d = json.loads(data)
        except ValueError:
            raise ValueError("ledger state: not JSON")
        if not isinstance(d, dict) or d.get("v") != _VERSION:
            raise ValueError("ledger state: not version %d" % _VERSION)
        for key in ("acc", "tariff"):
            if not isinstance(d.get(key), dict):
                raise ValueError("ledger state: %s is not an object" % key)
        self.acc.restore(d["acc"])
        self.tariff.restore(d["tariff"])
        self.anchor = None
        self._register_t = None

    def save(self, path):
        # the state to flash at once: written to path.tmp, then renamed over path, so a reset or a
        # power cut leaves the old state or the new one (as energy_queue.py does)
        # json.dump writes in pieces: the whole text (3 KB by the year's end) is never one block,
        # which a fragmented heap may not have
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self._state(), f)
        os.rename(tmp, path)

    def load(self, path):
        # the saved state -> None, or why it was not taken. path.tmp is the new state when the cut
        # came between its write and the rename (FAT removes the old file first)
        why = "no saved state"
        for p in (path, path + ".tmp"):
            try:
                with open(p, "rb") as f:
                    self.from_bytes(f.read())
                return None
            except OSError:
                pass
            except ValueError as e:
                why = "%s: %s" % (p, e)
        return why


def _whole(rd, f, shift):
    # field f as an int of units 10**-shift of its unit (W: 0; kWh field in Wh: 3), rounded down
    n, e = rd.number(f)
    e += shift
    return n * 10**e if e >= 0 else n // 10**-e


def kilo(v, d):
    # v Wh (or W) as kWh (kW) with d decimals, or with as few as it needs when d is None
    if d is None:
        d = 3
        while d and v % 10 ** (4 - d) == 0:
            d -= 1
    v = (2 * v + 10 ** (3 - d)) // (2 * 10 ** (3 - d)) if d < 3 else v
    return _decimal(v, d)


def _decimal(v, d):
    # the int v as a decimal with d decimals: 1234, 3 -> "1.234"; 0, 1 -> "0.0"
    if d == 0:
        return str(v)
    sign = "-" if v < 0 else ""
    whole, frac = divmod(abs(v), 10**d)
    frac = str(frac)
    return sign + str(whole) + "." + "0" * (d - len(frac)) + frac
