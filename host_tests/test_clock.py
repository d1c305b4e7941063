# test_clock.py Checks that uptime and ages stay right across the 32-bit ticks wrap and over days of silence.
# Shared: runs under pytest and on the MicroPython runtimes (mpy_runner.py). The host's ticks wrap
# at 2**30 ms like the ESP32's and start 30 s before the wrap (shims/ticks.py, mpy_time/time.py);
# time.advance_ms() stands in for time passing while the loop runs.

import time

import clock
from diagnosis import diagnose

_HOUR_MS = 3600 * 1000
_DAY_S = 86400
_SERIAL = {"setting": "auto", "framing": "2400 8E1", "settled": True}


def _run(hours):
    # the main loop calls clock.tick() every pass; here once per simulated hour is enough
    for _ in range(hours):
        time.advance_ms(_HOUR_MS)
        clock.tick()


def test_the_host_ticks_wrap_at_2_30_like_the_device():
    assert time.ticks_add(0, -1) == (1 << 30) - 1
    assert time.ticks_diff(time.ticks_add(5, 10), (1 << 30) - 5) == 20


def test_seconds_count_on_across_the_ticks_wrap():
    start_ticks = time.ticks_ms()
    start = clock.seconds()
    _run(13 * 24)  # 13 days: more than one whole 12.4-day period of the ticks
    assert clock.seconds() - start >= 13 * _DAY_S
    assert clock.seconds() - start < 13 * _DAY_S + 60
    # what the firmware used to do: a ticks difference over the same span is wrong
    assert time.ticks_diff(time.ticks_ms(), start_ticks) // 1000 < 13 * _DAY_S


def test_a_meter_silent_for_seven_days_is_reported_as_silent():
    last_frame_s = clock.seconds()
    last_frame_ticks = time.ticks_ms()
    _run(7 * 24)
    age = clock.seconds() - last_frame_s
    assert age >= 7 * _DAY_S
    code, message = diagnose(clock.seconds(), 5000, 10, 10, 0, 0, None, age, _SERIAL, 16)
    assert code == "stale" and "%d s" % age in message
    # a ticks difference would have called the meter well, or given a negative age
    wrong = time.ticks_diff(time.ticks_ms(), last_frame_ticks) // 1000
    assert wrong < 7 * _DAY_S
