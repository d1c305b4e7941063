# acct_json.py Provides the accounting's JSON (live, hour, month, running totals), the tariff's figures they need, and reading the totals back.
# MIT license
#
# Built from a Ledger (lib/ledger.py) on demand, never kept: the shape is in docs/status-api.md.
# Imported for each use and dropped again on MicroPython (accounting.cold("acct_json")); Tariff's
# and Ledger's methods of the same names call these.
# Numbers are exact decimals made from ints (kWh with the meter's decimals; totals to the Wh).

import caltime
from micropython import const

_HOUR = const(3600)
_DAY_HOURS = const(24)


def _opt(v, d):
    return "null" if v is None else kilo(v, d)


def live(lg, totals, hours=False, meter_id=None):
    # the accounting object as JSON text pieces (a generator: /api/status writes them one by one);
    # totals: (import Wh, export Wh) or None when they are not yet known not to go back
    acc, t = lg.acc, lg.tariff
    if acc.now is None:
        yield "null"
        return
    d = decimals(lg)
    sf = acc.so_far()
    if sf is None:
        yield '{"hour": null, "today": null'
    else:
        h, imp, exp = sf
        proj, left, _ = tariff_live(t, h, imp, acc.last[1], acc.last[0])
        yield '{"hour": {"start": "%s", "import_kwh": %s, "export_kwh": %s, "projected_kwh": %s, "left_kwh": %s}' % (
            caltime.label(h), kilo(imp, d), kilo(exp, d), kilo(proj, d), _opt(left, d))
        y, m, dd = caltime.date(caltime.day_of(h))
        peak = tariff_today_peak(t, h)
        if peak is not None:  # today_peak() knows only its own day: the hours before h today
            for r in t.today:
                imp += r[1]
                exp += r[2]
        yield ', "today": {"date": "%04d-%02d-%02d", "import_kwh": %s, "export_kwh": %s, "peak": %s}' % (
            y, m, dd, kilo(imp, d), kilo(exp, d),
            "null" if peak is None else '{"hour": "%s", "kwh": %s}' % (caltime.label(peak[0]), kilo(peak[1], d)))
    month = month_json(lg)
    if month is None:
        yield ', "month": null'
    else:
        s, c = tariff_value(t)
        up = tariff_step(t, s, c)[1]
        rise = None if up is None else (up * max(c, 1) - s) // max(c, 1)
        yield ', "month": %s, "rise_kw": %s}' % (month[:-1], "null" if rise is None else kilo(rise, 3))
    yield ', "totals": %s' % totals_json(totals)
    if hours:
        yield ', "hours": ['
        sep = ""
        since = acc.now - acc.now % _HOUR - _DAY_HOURS * _HOUR
        for r in (t.yesterday + t.today)[-_DAY_HOURS:]:
            if r[0] >= since:
                yield '%s["%s", %s, %s, %d]' % (sep, caltime.label(r[0]), kilo(r[1], d), kilo(r[2], d), r[3])
                sep = ", "
        yield "]"
    if meter_id is not None:
        yield ', "meter_id": "%s"' % meter_id
    yield "}"


def totals_json(totals, meter_id=None):
    if totals is None:
        return "null"
    m = "" if meter_id is None else ', "meter_id": "%s"' % meter_id
    return '{"import_kwh": %s, "export_kwh": %s%s}' % (kilo(totals[0], 3), kilo(totals[1], 3), m)


def read_totals(text):
    # (import Wh, export Wh, meter id or None) from totals_json()'s text, without floats (a 32-bit
    # port's float has 7 digits: 12345.678 kWh would not come back to the Wh); None when it is not that
    try:
        text = text.decode() if isinstance(text, bytes) else text
        return _wh(text, "import_kwh"), _wh(text, "export_kwh"), _text(text, "meter_id")
    except (ValueError, UnicodeError):
        return None


def _wh(text, key):
    i = text.index('"%s": ' % key) + len(key) + 4
    j = i
    while j < len(text) and text[j] in "0123456789.":
        j += 1
    whole, _, frac = text[i:j].partition(".")
    if not whole.isdigit() or len(frac) > 3 or frac and not frac.isdigit():
        raise ValueError(key)
    return int(whole) * 1000 + int((frac + "000")[:3])


def _text(text, key):
    k = '"%s": "' % key
    i = text.find(k)
    if i < 0:
        return None
    i += len(k)
    return text[i : text.index('"', i)]


# --- the tariff's figures and the hour and month JSON, with the meter's decimals ---


def tariff_peaks(t, days=None):
    # [(hour start, Wh)] counted for the month, highest first (the earlier on a tie)
    ds = sorted(t.days if days is None else days, key=lambda d: (-d[2], d[1]))
    return [(d[1], d[2]) for d in ds[: 1 if t.single else 3]]


def tariff_value(t, days=None):
    # (sum Wh, count): the month's value is sum / count kW-hours per hour, i.e. W
    p = tariff_peaks(t, days)
    return sum(x[1] for x in p), len(p)


def tariff_step(t, s=None, c=None):
    # (lower W, upper W or None) of the step the value (s, c) is in (the month's by default)
    if s is None:
        s, c = tariff_value(t)
    lo = 0
    for x in t.thresholds:
        if s <= x * max(c, 1):
            return lo, x
        lo = x
    return lo, None


def tariff_today_peak(t, now=None):
    # (hour start, import Wh) of today's highest completed hour, or None; with now (UTC time),
    # None also when no hour of now's day has completed yet
    if now is not None and caltime.day_of(now) != t.day:
        return None
    best = None
    for h in t.today:
        if best is None or h[1] > best[1]:
            best = (h[0], h[1])
    return best


def tariff_live(t, hour, so_far, power_w, now):
    # for the hour starting at `hour` with so_far import Wh and power_w now (UTC time now):
    # (projected Wh at the end of the hour, Wh the hour may still use before the month's step
    # rises or None on the top step, W the month's value may rise before the next step or None)
    projected = so_far + power_w * max(0, hour + _HOUR - now) // _HOUR
    y, m, d, _, _ = caltime.local(hour)
    n = caltime.days(y, m, d)
    days = t.days if t.month == y * 100 + m else []
    others = [x for x in days if x[0] != n]
    s, c = tariff_value(t, days)
    lo, up = tariff_step(t, s, c)
    if up is None:
        return projected, None, None
    if t.single:
        most = up
    else:
        top = sorted((x[2] for x in others), reverse=True)[:2]
        most = (len(top) + 1) * up - sum(top)  # the peak today may reach, with the others kept
    return projected, max(0, most - so_far), (up * max(c, 1) - s) // max(c, 1)


def decimals(led):
    d, r = 3, led.acc.res
    while r >= 10 and d > 0:
        d, r = d - 1, r // 10
    return d


def hour_json(led, start, imp, exp, estimated):
    d = decimals(led)
    return '{"hour": "%s", "import_kwh": %s, "export_kwh": %s, "how": "%s"}' % (
        caltime.label(start), kilo(imp, d), kilo(exp, d), "estimated" if estimated else "register")


def month_json(led):
    t = led.tariff
    if t.month is None:
        return None
    d = decimals(led)
    peaks = ", ".join('{"hour": "%s", "kwh": %s}' % (caltime.label(h), kilo(wh, d)) for h, wh in tariff_peaks(t))
    s, c = tariff_value(t)
    lo, up = tariff_step(t, s, c)
    mean = (2 * s * 10**d + c * 1000) // (2 * c * 1000) if c else 0  # rounded half up to d decimals
    return '{"month": "%04d-%02d", "peaks": [%s], "peak_mean_kw": %s, "step_kw": [%s, %s]}' % (
        t.month // 100, t.month % 100, peaks, _decimal(mean, d), kilo(lo, None), "null" if up is None else kilo(up, None))


def kilo(v, d):
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
