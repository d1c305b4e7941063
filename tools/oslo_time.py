# oslo_time.py Provides Norwegian local time (Europe/Oslo, CET/CEST) from Unix time and back, in integers only.
# MIT license
#
# The virtual meter runs on MicroPython too, which has no datetime module and whose floats are
# single precision on 32-bit ports, so the calendar is done by hand with integers. Daylight-saving
# time is the EU rule Norway follows: from 01:00 UTC on the last Sunday of March to 01:00 UTC on
# the last Sunday of October.

_HOUR = 3600
_DAY = 86400


def days_from_civil(y, m, d):
    # days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z):
    # (year, month, day) of a day number since 1970-01-01
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (1 if m <= 2 else 0), m, d


def weekday(days):
    # ISO weekday of a day number: 1 = Monday .. 7 = Sunday (1970-01-01 was a Thursday)
    return (days + 3) % 7 + 1


def _last_sunday(y, m):
    # day number of the last Sunday of month m (March or October: 31 days)
    last = days_from_civil(y, m, 31)
    return last - weekday(last) % 7


def dst_span(y):
    # (start, end) Unix times of summer time in year y
    return _last_sunday(y, 3) * _DAY + _HOUR, _last_sunday(y, 10) * _DAY + _HOUR


_year = [1, 0, 0, 0]  # the last year asked for: its first and next year's first second, its summer time


def is_dst(t):
    y = _year
    if not y[0] <= t < y[1]:  # a new year: work it out once (the meter asks every 2 s)
        year = civil_from_days(t // _DAY)[0]
        y[0], y[1] = days_from_civil(year, 1, 1) * _DAY, days_from_civil(year + 1, 1, 1) * _DAY
        y[2], y[3] = dst_span(year)
    return y[2] <= t < y[3]


def utc_offset(t):
    # seconds to add to Unix time t for Norwegian wall-clock time
    return 2 * _HOUR if is_dst(t) else _HOUR


def local(t):
    # (year, month, day, hour, minute, second, iso weekday, dst) of Unix time t in Norway
    dst = is_dst(t)
    s = t + (2 * _HOUR if dst else _HOUR)
    days = s // _DAY
    y, m, d = civil_from_days(days)
    r = s - days * _DAY
    return y, m, d, r // _HOUR, r // 60 % 60, r % 60, weekday(days), dst


def from_local(y, m, d, hh=0, mm=0, ss=0):
    # Unix time of a Norwegian wall-clock time. An hour that occurs twice (October) gives the
    # first, summer-time one; an hour that never occurs (March, 02:xx) is read as winter time.
    wall = days_from_civil(y, m, d) * _DAY + hh * _HOUR + mm * 60 + ss
    summer = wall - 2 * _HOUR
    if is_dst(summer):
        return summer
    return wall - _HOUR


def parse_local(text):
    # "2026-03-29", "2026-03-29T00:00" or "2026-03-29T00:00:05" (Norwegian time) -> Unix time
    try:
        date, _, clock = text.strip().partition("T")
        y, m, d = [int(x) for x in date.split("-")]
        hms = [int(x) for x in clock.split(":")] if clock else []
        if len(hms) > 3 or not (1 <= m <= 12 and 1 <= d <= 31) or any(x < 0 for x in hms):
            raise ValueError
        hms += [0] * (3 - len(hms))
        if hms[0] > 23 or hms[1] > 59 or hms[2] > 59 or civil_from_days(days_from_civil(y, m, d)) != (y, m, d):
            raise ValueError
    except ValueError:
        raise ValueError("start %r is not a Norwegian local time like 2026-03-29T00:00" % text)
    return from_local(y, m, d, hms[0], hms[1], hms[2])


def iso(t):
    # "2026-03-29T03:00:00+02:00": Unix time t as Norwegian local time
    y, m, d, hh, mm, ss, _, dst = local(t)
    return "%04d-%02d-%02dT%02d:%02d:%02d+0%d:00" % (y, m, d, hh, mm, ss, 2 if dst else 1)
