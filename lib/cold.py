# cold.py Provides the accounting's rarely run parts: its state to and from JSON, the state file, the tariff's hour and month bookkeeping.
# MIT license
#
# Run at a start and once an hour: lib/accounting.py, tariff.py and ledger.py import this module
# for each use and drop it again on MicroPython (accounting.cold()), so that its code takes no RAM
# the rest of the time (docs/accounting.md, "Cost"). What the live figures need every 10 s is in
# lib/acct_json.py, so that they do not load this one too.

import json
import os
from micropython import const
import caltime
from accounting import cold

_VERSION = const(1)
_HOUR = const(3600)


def loads(data, what):
    try:
        d = json.loads(data)
    except ValueError:
        raise ValueError(what + ": not JSON")
    if not isinstance(d, dict):
        raise ValueError(what + ": not an object")
    return d


def dumps(d):
    return json.dumps(d).encode()


# --- Accounting ---


def acc_state(a):
    return {"point": a.point, "part": a.part, "res": a.res, "now": a.now, "shown": a.shown}


def acc_restore(a, d):
    a.point = _ints(d, "point", 3)
    a.part = _ints(d, "part", 4)
    a.res = _int(d, "res")
    a.now = _int(d, "now", True)
    a.shown = _ints(d, "shown", 2) or [0, 0]
    a.buckets = []
    a.last = None
    a.base = None


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


# --- Tariff ---


def tariff_add(t, start, imp, exp, estimated):
    # a completed hour; True when it was the month's last
    y, m, d, _, _ = caltime.local(start)
    n = caltime.days(y, m, d)
    if t.month != y * 100 + m:
        if t.month is not None:
            _tariff_close(t)
        if t.year != y:
            t.year, t.months = y, []
        t.month, t.days = y * 100 + m, []
    if t.day != n:
        t.yesterday = t.today if t.day == n - 1 else []
        t.day, t.today = n, []
    t.today.append([start, imp, exp, 1 if estimated else 0])
    e = t.days[-1] if t.days and t.days[-1][0] == n else None
    if e is None:
        t.days.append([n, start, imp, imp, exp])
    else:
        if imp > e[2]:
            e[1], e[2] = start, imp
        e[3] += imp
        e[4] += exp
    return caltime.local(start + _HOUR)[2:4] == (1, 0)


def _tariff_close(t):
    s, c = cold("acct_json").tariff_value(t)  # once a month
    t.months.append([t.month, sum(d[3] for d in t.days), sum(d[4] for d in t.days), s, c])


def tariff_state(t):
    return {"day": t.day, "today": t.today, "yesterday": t.yesterday, "month": t.month,
            "days": t.days, "year": t.year, "months": t.months}


def tariff_restore(t, d):
    t.day = _opt_int(d, "day")
    t.month = _opt_int(d, "month")
    t.year = _opt_int(d, "year")
    t.today = _rows(d, "today", 4)
    t.yesterday = _rows(d, "yesterday", 4)
    t.days = _rows(d, "days", 5)
    t.months = _rows(d, "months", 5)


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
    if isinstance(v, int) and not isinstance(v, bool):
        return v * 1000
    t = str(v)
    whole, _, frac = t.partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()) or len(frac) > 3:
        raise ValueError("tariff threshold %r: expected kW with at most 3 decimals" % (v,))
    return int(whole) * 1000 + int((frac + "000")[:3])


# --- Ledger: the state, at most about once an hour, after an hour's register ---


def ledger_bytes(led):
    return dumps({"v": _VERSION, "acc": acc_state(led.acc), "tariff": tariff_state(led.tariff)})


def ledger_restore(led, data):
    d = loads(data, "ledger state")
    if d.get("v") != _VERSION:
        raise ValueError("ledger state: not version %d" % _VERSION)
    for key in ("acc", "tariff"):
        if not isinstance(d.get(key), dict):
            raise ValueError("ledger state: %s is not an object" % key)
    acc_restore(led.acc, d["acc"])
    tariff_restore(led.tariff, d["tariff"])
    led.anchor = None
    led._register_t = None


def save(led, path):
    # the state to flash at once: written to path.tmp, then renamed over path, so a reset or a
    # power cut leaves the old state or the new one (as energy_queue.py does)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(ledger_bytes(led))
    os.rename(tmp, path)


def load(led, path):
    # path.tmp is the new state when the cut came between its write and the rename (FAT removes
    # the old file first)
    why = "no saved state"
    for p in (path, path + ".tmp"):
        try:
            with open(p, "rb") as f:
                ledger_restore(led, f.read())
            return None
        except OSError:
            pass
        except ValueError as e:
            why = "%s: %s" % (p, e)
    return why
