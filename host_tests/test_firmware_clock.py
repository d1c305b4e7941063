# test_firmware_clock.py Checks the whole firmware across the 32-bit ticks wrap: uptime and frame age stay right.
# The unix port runs with host_tests/mpy_time/time.py, whose ticks wrap at 2**30 ms like an ESP32's;
# here they start 2 s before the wrap.

import time

from harness import Firmware, Replay, wait_until
from test_firmware_mqtt import KAIFA_REPLAY


def test_uptime_and_frame_age_stay_right_across_the_ticks_wrap(tmp_path, monkeypatch):
    monkeypatch.setenv("HAN_TICKS_BEFORE_WRAP_MS", "2000")
    replay = Replay(KAIFA_REPLAY, speed=5, loop=True)
    started = time.monotonic()
    fw = Firmware(tmp_path, {"meter": {"serial": "kaifa"}}, replay.port)
    try:
        wait_until(lambda: fw.status()["frames"]["ok"] >= 3 and time.monotonic() - started > 6, 60, "frames after the wrap")
        s = fw.status()
        elapsed = time.monotonic() - started
        assert 4 <= s["uptime_s"] <= elapsed + 1, s["uptime_s"]
        assert s["last_frame_age_s"] is not None and 0 <= s["last_frame_age_s"] <= 10
        assert s["diagnosis"]["code"] == "ok"
    finally:
        fw.stop()
        replay.stop()
