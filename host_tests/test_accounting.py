# test_accounting.py Checks the clock hours, the estimated split of lost registers, the running totals, the capacity tariff and the saved state against known answers.
# Shared: runs under pytest and under MicroPython (mpy_runner.py), x64 and 32-bit.
#
# The input comes from a small deterministic meter below: a power profile held for each step,
# integrated into import and export registers (whole Wh, truncated to the resolution as a meter
# does), so the true register at every boundary, and so every true hour, is known.

import caltime
from accounting import Accounting, apportion
from tariff import Tariff, parse_kw
from ledger import Ledger, kilo
from reading import Reading
from obis import field

_STEP = 30  # seconds between power readings
_DAY = 86400


def _profile(t):
    # net W (negative: export), varied within the hour so a split by power is not a split by time
    x = (t // 600) % 6 * 350 + (t // 3600) % 5 * 500 + 200
    if (t // 3600) % 24 == 11:
        x -= 2500  # an hour of solar export
    return x


class Meter:
    # events ("p", t, import W, export W) and ("r", t, import Wh, export Wh) from t0 to t1 (UTC)
    def __init__(self, t0, t1, res=1, every=3600, delay=10, start=(5000000, 20000), profile=_profile, step=_STEP, keep=True):
        self.args = (t0, t1, res, every, delay, start, profile, step)
        self.reg = {}  # boundary -> (import Wh, export Wh), truncated to res
        self.events = [e for e in self.stream() if keep]

    def stream(self):
        # the events, made afresh (a long run need not be held in memory)
        t0, t1, res, every, delay, start, profile, step = self.args
        ws_i, ws_e = start[0] * 3600, start[1] * 3600
        for t in range(t0, t1 + 1, step):
            if t % every == 0:
                self.reg[t] = (ws_i // 3600 // res * res, ws_e // 3600 // res * res)
            net = profile(t)
            pi, pe = max(net, 0), max(-net, 0)
            yield ("p", t, pi, pe)
            if t % every == 0:
                yield ("r", t + delay) + self.reg[t]
            ws_i += pi * step
            ws_e += pe * step

    def hour(self, h):
        # the true import and export of the hour starting at h
        return self.reg[h + 3600][0] - self.reg[h][0], self.reg[h + 3600][1] - self.reg[h][1]

    def without(self, lost):
        # the events with the register messages of the boundaries in lost left out
        return [e for e in self.events if not (e[0] == "r" and e[1] - e[1] % 900 in lost)]


def _feed(acc, events):
    for e in events:
        if e[0] == "p":
            acc.power(e[1], e[2], e[3])
        else:
            acc.register(e[1], e[2], e[3])


def _run(events, acc=None):
    hours = []
    acc = acc or Accounting()
    acc.on_hour = lambda *h: hours.append(h)
    _feed(acc, events)
    return acc, hours


def _t(y, m, d, h=0):
    # UTC time of a local Europe/Oslo wall time that is not ambiguous
    return caltime.to_utc((y, m, d, h, 0, 0, 0x8000, 0))


# --- hours from registers ---


def test_a_normal_day_gives_24_register_hours_equal_to_the_register_differences():
    t0, t1 = _t(2026, 1, 15), _t(2026, 1, 16)
    m = Meter(t0, t1)
    _, hours = _run(m.events)
    assert [caltime.label(h[0]) for h in hours] == ["2026-01-15T%02d:00+01:00" % i for i in range(24)]
    for h in hours:
        assert (h[1], h[2]) == m.hour(h[0]) and h[3] is False, h
    assert sum(h[1] for h in hours) == m.reg[t1][0] - m.reg[t0][0]
    assert hours[12][2] > 0 and hours[12][1] < hours[11][1]  # the solar hour (11 UTC) exported


def test_one_lost_register_splits_its_two_hours_exactly_and_marks_them_estimated():
    t0 = _t(2026, 2, 3)
    m = Meter(t0, t0 + 6 * 3600)
    _, hours = _run(m.without([t0 + 3 * 3600]))
    assert len(hours) == 6
    assert [h[3] for h in hours] == [False, False, True, True, False, False]
    a, b = hours[2], hours[3]
    assert a[1] + b[1] == m.reg[t0 + 4 * 3600][0] - m.reg[t0 + 2 * 3600][0]  # the sum is exact
    for h in (a, b):  # the power was read all along: the split is right within a Wh
        assert abs(h[1] - m.hour(h[0])[0]) <= 1, (h, m.hour(h[0]))


def test_three_lost_registers_in_a_row_split_four_hours_in_the_meter_resolution():
    t0 = _t(2026, 2, 3)
    m = Meter(t0, t0 + 8 * 3600, res=10)
    lost = [t0 + i * 3600 for i in (3, 4, 5)]
    _, hours = _run(m.without(lost), _fresh(10))
    est = [h for h in hours if h[3]]
    assert len(est) == 4 and est[0][0] == t0 + 2 * 3600
    assert sum(h[1] for h in est) == m.reg[t0 + 6 * 3600][0] - m.reg[t0 + 2 * 3600][0]
    assert sum(h[2] for h in est) == m.reg[t0 + 6 * 3600][1] - m.reg[t0 + 2 * 3600][1]
    for h in est:
        assert h[1] % 10 == 0 and h[2] % 10 == 0
        assert abs(h[1] - m.hour(h[0])[0]) <= 10, (h, m.hour(h[0]))


def _fresh(res):
    acc = Accounting()
    acc.res = res
    return acc


def test_lost_registers_without_power_readings_split_by_time_and_still_sum_exactly():
    t0 = _t(2026, 2, 3)
    m = Meter(t0, t0 + 5 * 3600)
    ev = [e for e in m.without([t0 + 2 * 3600, t0 + 3 * 3600]) if e[0] == "r" or e[1] < t0 + 3600]
    _, hours = _run(ev)
    est = [h for h in hours if h[3]]
    total = m.reg[t0 + 4 * 3600][0] - m.reg[t0 + 3600][0]
    assert len(est) == 3 and sum(h[1] for h in est) == total
    assert max(h[1] for h in est) - min(h[1] for h in est) <= 1


def test_registers_repeated_unchanged_while_power_flowed_count_as_lost():
    # Aidon has sent an hour's registers again an hour later (amsreader #1119): not 0 then double
    t0 = _t(2026, 2, 3)
    m = Meter(t0, t0 + 4 * 3600)
    ev = []
    for e in m.events:
        if e[0] == "r" and e[1] - 10 == t0 + 2 * 3600:
            e = ("r", e[1]) + m.reg[t0 + 3600]  # a fresh clock, the registers of an hour before
        ev.append(e)
    _, hours = _run(ev)
    assert [h[3] for h in hours] == [False, True, True, False]
    assert hours[1][1] + hours[2][1] == m.reg[t0 + 3 * 3600][0] - m.reg[t0 + 3600][0]
    assert abs(hours[1][1] - m.hour(t0 + 3600)[0]) <= 1


def test_a_replaced_meter_starts_a_new_series_without_a_negative_hour():
    t0 = _t(2026, 4, 10)
    old = Meter(t0, t0 + 3 * 3600)
    new = Meter(t0 + 3 * 3600, t0 + 6 * 3600, start=(0, 0))
    acc, hours = _run(old.events[:-1] + new.events)  # the old meter's last register goes
    assert len(hours) == 6
    assert all(h[1] >= 0 and h[2] >= 0 for h in hours)
    assert hours[2][3] is True  # the hour of the swap: from power alone
    assert abs(hours[2][1] - old.hour(t0 + 2 * 3600)[0]) <= 1
    for h in hours[3:]:
        assert (h[1], h[2]) == new.hour(h[0]) and not h[3]
    assert acc.totals()[0] < 100000  # the new meter's totals


def test_registers_every_15_minutes_still_give_clock_hours():
    t0 = _t(2026, 5, 6, 8)
    m = Meter(t0, t0 + 4 * 3600, every=900, delay=5)
    _, hours = _run(m.events)
    assert len(hours) == 4 and [h[0] for h in hours] == [t0 + i * 3600 for i in range(4)]
    for h in hours:
        assert (h[1], h[2]) == m.hour(h[0]) and not h[3]
    # a lost quarter inside an hour changes nothing; one on the hour makes two hours estimated
    _, hours = _run(m.without([t0 + 900, t0 + 3600]))
    assert [h[3] for h in hours] == [True, True, False, False]
    assert hours[0][1] + hours[1][1] == m.reg[t0 + 7200][0] - m.reg[t0][0]
    assert (hours[2][1], hours[3][1]) == (m.hour(t0 + 7200)[0], m.hour(t0 + 3 * 3600)[0])


def test_live_registers_every_30_s_give_clock_hours_and_totals_that_are_the_registers():
    # Swedish Kaifa and Danish Kamstrup send the registers with every message
    t0 = _t(2026, 5, 6, 8)
    m = Meter(t0, t0 + 3 * 3600, every=_STEP, delay=0)
    acc = Accounting()
    hours = []
    acc.on_hour = lambda *h: hours.append(h)
    for e in m.events:
        if e[0] == "p":
            acc.power(e[1], e[2], e[3])
        else:
            acc.register(e[1], e[2], e[3])
            assert acc.totals() == (e[2], e[3]), e
    assert [(h[1], h[2]) for h in hours] == [m.hour(t0 + i * 3600) for i in range(3)]


def test_a_register_read_mid_quarter_only_moves_the_running_totals():
    acc = Accounting()
    acc.register(_t(2026, 1, 1, 10) + 400, 1000, 0)
    assert acc.point is None and acc.totals() == (1000, 0)


# --- running totals for Home Assistant ---


def test_running_totals_advance_with_power_resync_to_each_register_and_never_decrease():
    # the last total before each boundary is within 1 % of the hour (or 5 Wh) of the true register,
    # plus the register's resolution: a 10 Wh register hides up to 9.99 Wh it has counted
    t0 = _t(2026, 1, 20)
    for res in (1, 10):
        m = Meter(t0, t0 + 2 * _DAY, res=res, step=10, keep=False)  # list 2 comes every 10 s
        acc = _fresh(res)
        shown = (0, 0)
        before = {}
        for e in m.stream():
            if e[0] == "p":
                acc.power(e[1], e[2], e[3])
            else:
                acc.register(e[1], e[2], e[3])
            tot = acc.totals()
            if tot is None:
                continue
            assert tot[0] >= shown[0] and tot[1] >= shown[1]
            shown = tot
            if e[0] == "p" and e[1] % 3600 == 3600 - 10:
                before[e[1] + 10] = tot  # the last value before the boundary
        assert len(before) >= 47
        for b, tot in before.items():
            true = m.reg[b]
            hour = true[0] - m.reg[b - 3600][0]
            assert abs(tot[0] - true[0]) <= max(5, hour // 100) + res - 1, (res, b, tot, true)


def test_a_total_ahead_of_the_register_waits_for_it():
    acc = Accounting()
    t = _t(2026, 1, 1, 10)
    acc.power(t, 0, 0)
    acc.register(t, 1000, 0)
    acc.power(t + 30, 36000, 0)
    acc.power(t + 60, 0, 0)  # 300 Wh integrated
    assert acc.totals() == (1300, 0)
    acc.register(t + 900, 1200, 0)  # the meter says less: the total waits
    assert acc.totals() == (1300, 0)
    acc.register(t + 1800, 1400, 0)
    assert acc.totals() == (1400, 0)


# --- daylight saving, from the meter's local clock (through Ledger and Reading) ---

_CLOCK = field("meter_datetime")
_PI, _PE = field("active_power_import"), field("active_energy_import")
_POUT, _EOUT = field("active_power_export"), field("active_energy_export")


def _set(rd, f, v, exp=0):
    rd.set_number(f, v >> 16, v & 0xFFFF, exp)


def _clock(arr, t, dev=0x8000, status=0, off=0):
    y, mo, d, h, mi = caltime.local(t + off)
    for i, v in enumerate((y, mo, d, h, mi, (t + off) % 60, dev, status)):
        arr[i] = v


def _readings(ledger, events, style="kaifa", off=0, dev=0x8000, status=None, energy_exp=0):
    # the events as decoded messages. kaifa: a clock in every header; aidon: power without a clock,
    # placed by dongle seconds (the meter's clock is off seconds ahead of the dongle's); list 3
    # with the clock frozen at the boundary. status None: the DST bit as the meter's summer says
    rd = Reading()
    for e in events:
        rd.clear()
        t = e[1]
        st = status if status is not None else (0x80 if caltime.offset(t) == 7200 else 0)
        dv = dev if dev != "true" else (65536 - caltime.offset(t) // 60)
        if e[0] == "p":
            _set(rd, _PI, e[2])
            _set(rd, _POUT, e[3])
            if style == "kaifa":
                _clock(rd.notification_clock, t, dv, st)
                rd.has_notification_clock = True
            rd.items = 9
            ledger.reading(rd, t - off)
        else:
            b = t - t % 900
            _clock(rd.clock, b if style == "aidon" else t, dv, st)
            rd.present[_CLOCK] = 1
            _set(rd, _PE, e[2] // 10**energy_exp, energy_exp)
            _set(rd, _EOUT, e[3] // 10**energy_exp, energy_exp)
            ledger.reading(rd, t - off)


def _ledger_hours(events, **kw):
    out = []
    led = Ledger()
    led.on_hour = lambda *h: out.append(led.hour_json(*h))
    _readings(led, events, **kw)
    return led, out


def test_spring_forward_day_has_23_hours_and_no_0200():
    t0, t1 = _t(2026, 3, 29), _t(2026, 3, 30)
    m = Meter(t0, t1)
    led, out = _ledger_hours(m.events, status=0)
    assert t1 - t0 == 23 * 3600 and len(out) == 23
    assert '"hour": "2026-03-29T01:00+01:00"' in out[1] and '"hour": "2026-03-29T03:00+02:00"' in out[2]
    assert not any("T02:00" in x for x in out)
    assert led.tariff.day == caltime.days(2026, 3, 29) and len(led.tariff.today) == 23


def test_fall_back_day_has_25_hours_with_0200_twice():
    t0, t1 = _t(2026, 10, 25), _t(2026, 10, 26)
    m = Meter(t0, t1)
    for kw in ({"status": 0}, {}, {"dev": "true"}, {"style": "aidon"}):  # DST bit: never, right; deviation sent
        led, out = _ledger_hours(m.events, **kw)
        assert len(out) == 25, kw
        assert '"hour": "2026-10-25T02:00+02:00"' in out[2] and '"hour": "2026-10-25T02:00+01:00"' in out[3], kw
        want = m.hour(t0 + 3 * 3600)[0]
        assert '"import_kwh": %s' % kilo(want, 3) in out[3] and '"how": "register"' in out[3]


def test_the_fall_back_hour_is_right_after_a_restore_inside_it():
    t0 = _t(2026, 10, 25)
    m = Meter(t0, t0 + 5 * 3600)
    split = t0 + 3 * 3600 + 600  # 02:10+01:00, the second 02:00
    led, out = _ledger_hours([e for e in m.events if e[1] < split], status=0)
    again = Ledger()
    again.from_bytes(led.to_bytes())
    again.on_hour = lambda *h: out.append(again.hour_json(*h))
    _readings(again, [e for e in m.events if e[1] >= split], status=0)
    assert [x[10:32] for x in out] == ["2026-10-25T" + s for s in ("00:00+02:00", "01:00+02:00", "02:00+02:00", "02:00+01:00", "03:00+01:00")]


def test_a_meter_clock_minutes_off_the_dongle_books_by_the_meter_clock():
    t0 = _t(2026, 6, 2)
    m = Meter(t0, t0 + 6 * 3600)
    for off in (0, 240, -190):
        led, out = _ledger_hours(m.without([t0 + 3 * 3600]), style="aidon", off=off, energy_exp=1)
        assert len(out) == 6
        est = [x for x in out if "estimated" in x]
        assert len(est) == 2
        for i in range(6):
            want = m.hour(t0 + i * 3600)[0] // 10 * 10
            got = out[i].split('"import_kwh": ')[1].split(",")[0]
            assert abs(int(got.replace(".", "")) * 10 - want) <= 20, (off, out[i], want)


# --- reset: the state saved after a register, restored ---


def test_a_reset_mid_hour_still_gives_the_hour_from_its_register():
    t0 = _t(2026, 9, 9, 8)
    m = Meter(t0, t0 + 4 * 3600)
    cut = t0 + 3600 + 1800
    acc, hours = _run([e for e in m.events if e[1] < cut])
    saved = acc.to_bytes()
    acc2 = Accounting()
    acc2.from_bytes(saved)
    assert acc2.totals() is None  # waits for a register
    _, more = _run([e for e in m.events if e[1] >= cut], acc2)
    assert [h[0] for h in hours + more] == [t0 + i * 3600 for i in range(4)]
    assert (more[0][1], more[0][2], more[0][3]) == m.hour(t0 + 3600) + (False,)
    # the state saved an hour earlier (the last register before the reset was never saved) and the next register lost
    acc3 = Accounting()
    acc3.from_bytes(saved)
    _, more = _run([e for e in m.without([t0 + 3 * 3600]) if e[1] >= cut], acc3)
    assert [h[3] for h in more] == [False, True, True]
    assert more[1][1] + more[2][1] == m.reg[t0 + 4 * 3600][0] - m.reg[t0 + 2 * 3600][0]


def test_a_reset_across_midnight_keeps_today_yesterday_and_the_month():
    t0 = _t(2026, 9, 9, 20)
    m = Meter(t0, t0 + 8 * 3600)
    cut = t0 + 3 * 3600 + 1200  # 23:20
    led, out = _ledger_hours([e for e in m.events if e[1] < cut])
    mid = _t(2026, 9, 10, 0) + 5  # the dongle comes back at 00:00:05, before the register
    led2 = Ledger()
    led2.from_bytes(led.to_bytes())
    led2.on_hour = lambda *h: out.append(led2.hour_json(*h))
    _readings(led2, [e for e in m.events if e[1] >= mid])
    assert len(out) == 8 and '"how": "register"' in out[3]  # 23:00 from its register at 00:00
    t = led2.tariff
    assert t.day == caltime.days(2026, 9, 10) and len(t.today) == 4
    assert [h[0] for h in t.yesterday] == [t0 + i * 3600 for i in range(4)]
    assert [d[0] for d in t.days] == [caltime.days(2026, 9, 9), caltime.days(2026, 9, 10)]


def test_the_state_file_is_written_whole_and_a_cut_rename_is_recovered():
    import os

    path = "/tmp/test_accounting_%d.json" % os.getpid() if hasattr(os, "getpid") else "/tmp/test_accounting.json"
    t0 = _t(2026, 9, 9, 20)
    m = Meter(t0, t0 + 3 * 3600)
    led, _ = _ledger_hours(m.events)
    try:
        assert Ledger().load(path) == "no saved state"
        led.save(path)
        again = Ledger()
        assert again.load(path) is None and again.to_bytes() == led.to_bytes()
        os.rename(path, path + ".tmp")  # the cut came between the write and the rename
        again = Ledger()
        assert again.load(path) is None and again.tariff.today == led.tariff.today
        with open(path, "wb") as f:
            f.write(b'{"v": 1, "acc"')  # a damaged file, and the temp file: taken
        assert Ledger().load(path) is None
        os.remove(path + ".tmp")
        assert "not JSON" in Ledger().load(path)
    finally:
        for p in (path, path + ".tmp"):
            try:
                os.remove(p)
            except OSError:
                pass


def test_so_far_and_today_peak_during_an_hour():
    t0 = _t(2026, 2, 3, 6)
    led = Ledger()
    acc = led.acc
    m = Meter(t0, t0 + 3600 + 1800)
    hours = []
    acc.on_hour = lambda *h: (hours.append(h), led._hour(*h))
    _feed(acc, m.events)
    h, imp, exp = acc.so_far()
    assert h == t0 + 3600 and len(hours) == 1
    true = sum(_profile(t) * _STEP for t in range(t0 + 3600, t0 + 5400, _STEP)) // 3600
    assert true - imp in (0, 1) and exp == 0
    assert acc.present() == (_profile(t0 + 5400), 0)
    assert led.tariff.today_peak() == (t0, hours[0][1]) and led.tariff.today_peak(t0 + 5400) == (t0, hours[0][1])
    assert led.tariff.today_peak(_t(2026, 2, 4, 0) + 60) is None


def test_state_that_is_not_right_is_refused_naming_the_field():
    led = Ledger()
    for bad, name in ((b"{", "JSON"), (b'{"v": 1, "acc": {"point": [1, 2]}, "tariff": {}}', "point"),
                      (b'{"v": 1, "acc": {"res": 1}, "tariff": {"today": 3}}', "today")):
        try:
            led.from_bytes(bad)
            raise AssertionError("accepted %r" % bad)
        except ValueError as e:
            assert name in str(e), (bad, e)


# --- month and year ends ---


def test_month_end_and_year_end_roll_the_month_and_the_year():
    t0, t1 = _t(2026, 12, 31, 21), _t(2027, 1, 1, 3)
    m = Meter(t0, t1)
    months = []
    led = Ledger()
    led.on_month = lambda: months.append(led.month_json())
    _readings(led, m.events)
    assert len(months) == 1 and months[0].startswith('{"month": "2026-12", "peaks": [{"hour": "2026-12-31T')
    t = led.tariff
    assert t.month == 202701 and t.year == 2027 and t.months == [] and len(t.days) == 1
    assert len(t.yesterday) == 3 and len(t.today) == 3
    assert led.month_json().startswith('{"month": "2027-01"')
    m2 = Meter(_t(2026, 4, 30, 22), _t(2026, 5, 1, 2))
    led = Ledger()
    _readings(led, m2.events)
    assert led.tariff.months[0][0] == 202604 and led.tariff.months[0][1] == m2.reg[_t(2026, 5, 1)][0] - m2.reg[_t(2026, 4, 30, 22)][0]


# --- the capacity tariff ---


def _tariff_days(t, peaks, start=(2026, 3, 2)):
    # a day per entry: one hour at 07:00 of that many Wh, another at 08:00 of half of it
    n = caltime.days(*start)
    for i, wh in enumerate(peaks):
        y, mo, d = caltime.date(n + i)
        t.add(_t(y, mo, d, 7), wh, 0, False)
        t.add(_t(y, mo, d, 8), wh // 2, 0, False)


def test_the_step_includes_its_upper_threshold():
    t = Tariff()
    for s, c, want in ((0, 0, (0, 2000)), (15000, 3, (2000, 5000)), (15001, 3, (5000, 10000)), (6000, 3, (0, 2000)),
                       (6001, 3, (2000, 5000)), (300001, 3, (100000, None)), (100000, 1, (75000, 100000))):
        assert t.step(s, c) == want, (s, c)
    assert Tariff([parse_kw(x) for x in ("5", 2.5, 10)]).thresholds == [2500, 5000, 10000]
    try:
        parse_kw("2,5")
        raise AssertionError
    except ValueError as e:
        assert "2,5" in str(e)


def test_the_month_counts_three_daily_peaks_on_different_days():
    t = Tariff()
    _tariff_days(t, [4000, 9000])
    t.add(_t(2026, 3, 3, 9), 8500, 0, False)  # a second big hour on the 9000 day does not count again
    _tariff_days(t, [3000, 6000], (2026, 3, 4))
    assert t.peaks() == [(_t(2026, 3, 3, 7), 9000), (_t(2026, 3, 5, 7), 6000), (_t(2026, 3, 2, 7), 4000)]
    assert t.value() == (19000, 3) and t.step() == (5000, 10000)
    led = Ledger()
    led.tariff = t
    assert led.month_json() == ('{"month": "2026-03", "peaks": [{"hour": "2026-03-03T07:00+01:00", "kwh": 9.000}, '
                                '{"hour": "2026-03-05T07:00+01:00", "kwh": 6.000}, {"hour": "2026-03-02T07:00+01:00", '
                                '"kwh": 4.000}], "peak_mean_kw": 6.333, "step_kw": [5, 10]}')
    assert t.today_peak() == (_t(2026, 3, 5, 7), 6000)


def test_the_single_highest_hour_rule():
    t = Tariff(single=True)
    _tariff_days(t, [4000, 9000, 3000])
    assert t.peaks() == [(_t(2026, 3, 3, 7), 9000)] and t.value() == (9000, 1) and t.step() == (5000, 10000)
    hour = _t(2026, 3, 5, 10)
    assert t.live(hour, 1000, 3000, hour + 1800) == (2500, 9000, 1000)


def test_live_figures_left_this_hour_before_the_step_rises():
    t = Tariff()
    _tariff_days(t, [4000, 4500, 3000])  # mean 3833 W: step 2-5, 1167 W to go
    hour = _t(2026, 3, 4, 18)  # today is the 3000 day: it may reach 3 * 5000 - 4500 - 4000
    proj, left, rise = t.live(hour, 2000, 4000, hour + 2700)
    assert (proj, left, rise) == (3000, 6500 - 2000, 1166)
    hour = _t(2026, 3, 5, 18)  # a new day: the same sum
    assert t.live(hour, 0, 0, hour) == (0, 6500, 1166)
    hour = _t(2026, 4, 1, 0)  # a new month: one hour of 2 kWh keeps it in 0-2
    assert t.live(hour, 500, 0, hour) == (500, 1500, 2000)
    t = Tariff()
    _tariff_days(t, [200000, 300000, 400000])
    assert t.live(hour - 3600, 0, 0, hour - 3600)[1:] == (None, None)  # the top step has no ceiling


# --- the pieces ---


def test_apportion_sums_exactly_in_the_resolution():
    for total, res, w in ((100, 1, [1, 1, 1]), (1000, 10, [5, 0, 3, 7]), (7, 1, [0, 0, 1]), (12340, 10, [333333, 333333, 333334])):
        p = apportion(total, res, w)
        assert sum(p) == total and all(x % res == 0 for x in p), (total, w, p)
    assert apportion(100, 1, [1, 1, 1]) == [34, 33, 33]


def test_kwh_keeps_the_meter_decimals():
    assert (kilo(1234, 3), kilo(0, 3), kilo(1230, 2), kilo(5000, None), kilo(2500, None)) == ("1.234", "0.000", "1.23", "5", "2.5")
    led = Ledger()
    led.acc.res = 10
    assert led.hour_json(_t(2026, 3, 29, 1), 1230, 0, True) == '{"hour": "2026-03-29T01:00+01:00", "import_kwh": 1.23, "export_kwh": 0.00, "how": "estimated"}'


def test_calendar_math_round_trips_and_knows_the_change_days():
    for n in range(-800, 12000, 61):
        assert caltime.days(*caltime.date(n)) == n
    assert caltime.date(caltime.days(2028, 2, 29) + 1) == (2028, 3, 1)
    for y, spring, autumn in ((2026, 29, 25), (2027, 28, 31), (2030, 31, 27)):
        assert caltime.label(_t(y, 3, spring, 1)) == "%d-03-%02dT01:00+01:00" % (y, spring)
        assert caltime.label(_t(y, 3, spring, 1) + 3600) == "%d-03-%02dT03:00+02:00" % (y, spring)
        assert caltime.offset(_t(y, 10, autumn, 1)) == 7200 and caltime.offset(_t(y, 10, autumn, 4)) == 3600
