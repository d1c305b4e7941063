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


def test_the_clock_is_set_from_ntp_again_while_the_link_stays_up(tmp_path, monkeypatch):
    # a device's RTC drifts: NTP once per new link left it wrong for months on a stable link
    log = tmp_path / "ntp.log"
    monkeypatch.setenv("HAN_NTP_LOG", str(log))
    monkeypatch.setenv("HAN_NTP_EVERY_S", "2")  # a day on a device
    control = tmp_path / "wifi.control"
    control.write_text("up")
    replay = Replay(KAIFA_REPLAY, speed=5, loop=True)
    fw = Firmware(tmp_path, {"meter": {"serial": "kaifa"}, "wifi": {"ssid": "home"}}, replay.port, wifi_control=control)
    try:
        wait_until(lambda: log.exists() and log.read_text().count("settime") >= 3, 30, "three NTP settings on one link")
        assert "wifi: connected" in fw.output() and fw.output().count("wifi: connected") == 1
    finally:
        fw.stop()
        replay.stop()
