# acct_json.py Provides the accounting's live JSON (MQTT <prefix>/accounting and /api/status' accounting), the running totals' JSON and its reading back.
# MIT license
#
# Built from a Ledger (lib/ledger.py) on demand, never kept: the shape is in docs/status-api.md.
# Numbers are exact decimals made from ints (kWh with the meter's decimals; totals to the Wh).

import caltime
from ledger import kilo
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
    d = lg.decimals()
    sf = acc.so_far()
    if sf is None:
        yield '{"hour": null, "today": null'
    else:
        h, imp, exp = sf
        proj, left, _ = t.live(h, imp, acc.last[1], acc.last[0])
        yield '{"hour": {"start": "%s", "import_kwh": %s, "export_kwh": %s, "projected_kwh": %s, "left_kwh": %s}' % (
            caltime.label(h), kilo(imp, d), kilo(exp, d), kilo(proj, d), _opt(left, d))
        y, m, dd = caltime.date(caltime.day_of(h))
        peak = t.today_peak(h)
        if peak is not None:  # today_peak() knows only its own day: the hours before h today
            for r in t.today:
                imp += r[1]
                exp += r[2]
        yield ', "today": {"date": "%04d-%02d-%02d", "import_kwh": %s, "export_kwh": %s, "peak": %s}' % (
            y, m, dd, kilo(imp, d), kilo(exp, d),
            "null" if peak is None else '{"hour": "%s", "kwh": %s}' % (caltime.label(peak[0]), kilo(peak[1], d)))
    month = lg.month_json()
    if month is None:
        yield ', "month": null'
    else:
        s, c = t.value()
        up = t.step(s, c)[1]
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
