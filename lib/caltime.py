# caltime.py Provides calendar math without datetime: dates <-> day numbers, Europe/Oslo's UTC offset, a meter's local clock to UTC, hour labels.
# MIT license
#
# Times are whole seconds since 2020-01-01T00:00Z (UTC): small ints on a 32-bit port until 2054.
# Europe/Oslo is UTC+1, and UTC+2 from the last Sunday of March 01:00 UTC to the last Sunday of
# October 01:00 UTC (the EU rule, so it holds for every country the decoder knows). Its offsets are
# whole hours, so local clock hours are UTC hours with another label.

from micropython import const

_DAY = const(86400)
_HOUR = const(3600)
_EPOCH = const(18262)  # days from 1970-01-01 to 2020-01-01
_STD = const(3600)  # Europe/Oslo: UTC+1, +2 in summer
_SUMMER = const(7200)
_NOT_SPECIFIED = const(0x8000)  # deviation "not specified" (protocol.md 4.3)
_DST_BIT = const(0x80)
_SLACK = const(1800)  # a repeated-hour clock earlier than this before the last time is the second pass


def days(y, m, d):
    # days since 2020-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil)
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468 - _EPOCH


def date(n):
    # (year, month, day) of day number n (inverse of days())
    z = n + _EPOCH + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if m <= 2 else 0), m, d


def _last_sunday(y, m):
    # day number of the last Sunday of month m (March or October: 31 days)
    n = days(y, m, 31)
    return n - (n + 3) % 7  # 2020-01-01 was a Wednesday: (n + 3) % 7 == 0 on Sundays


def offset(t):
    # seconds Europe/Oslo's clock is ahead of UTC at UTC time t
    y = date(t // _DAY)[0]
    start = _last_sunday(y, 3) * _DAY + _HOUR
    end = _last_sunday(y, 10) * _DAY + _HOUR
    return _SUMMER if start <= t < end else _STD


def local(t):
    # (year, month, day, hour, minute) on Europe/Oslo's clock at UTC time t
    s = t + offset(t)
    y, m, d = date(s // _DAY)
    s %= _DAY
    return y, m, d, s // _HOUR, s % _HOUR // 60


def day_of(t):
    # Europe/Oslo's day number at UTC time t (days since 2020-01-01)
    return (t + offset(t)) // _DAY


def label(t):
    # "2026-10-25T02:00+02:00": the local time at UTC time t with its offset, as the hours are keyed
    y, m, d, h, mi = local(t)
    return "%04d-%02d-%02dT%02d:%02d+%02d:00" % (y, m, d, h, mi, offset(t) // _HOUR)


def to_utc(c, hint=None, after=None):
    # UTC time of a meter clock c = (Y, M, D, h, m, s, deviation u16, status) in local time.
    # The deviation is used when it is one of Europe/Oslo's two (NO meters send 0x8000 or even 0
    # with local time, protocol.md 4.3); else Europe/Oslo's rules decide. In the repeated hour of
    # October's change the status's daylight-saving bit says summer; without it the earlier (summer)
    # reading is taken unless that goes back more than _SLACK before hint, the last time seen, or
    # is not later than after (the last register message: one list 3 an hour, each later).
    s = days(c[0], c[1], c[2]) * _DAY + c[3] * _HOUR + c[4] * 60 + c[5]
    dev = c[6]
    if dev != _NOT_SPECIFIED:
        off = (65536 - dev if dev & 0x8000 else -dev) * 60  # UTC = local + deviation
        if off == _STD or off == _SUMMER:
            return s - off
    summer = offset(s - _SUMMER) == _SUMMER
    winter = offset(s - _STD) == _STD
    if summer and winter:  # the repeated 02:00 hour
        if c[7] != 0xFF and c[7] & _DST_BIT:
            return s - _SUMMER
        if hint is not None and s - _SUMMER < hint - _SLACK or after is not None and s - _SUMMER <= after:
            return s - _STD
        return s - _SUMMER
    if summer:
        return s - _SUMMER
    return s - _STD  # winter, or the missing 02:00 hour of March: a clock that did not move on
