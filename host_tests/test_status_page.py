# test_status_page.py Checks the status page in headless Chromium, the server under abuse, and the diagnosis.

import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time

from corpus import Pipeline, good_hdlc, records
from harness import ROOT, Firmware, Replay, wait_until
from test_firmware_mqtt import KAIFA_METER, KAIFA_REPLAY, _hanlog, _replay_frames

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOT = os.path.join(ROOT, "build", "status-page.png")


def _chromium(tmp_path, url, *what):
    # headless, no network but localhost; virtual time lets the page's 2 s refresh run at once
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
            "--user-data-dir=%s" % (tmp_path / "chromium"), "--window-size=1100,900", "--virtual-time-budget=5000"]
    p = subprocess.run(args + list(what) + [url], capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout.decode()


def _shown(dom, element_id):
    m = re.search(r'id="%s"[^>]*>([^<]*)<' % element_id, dom)
    assert m, "no element %s on the page" % element_id
    return m.group(1)


def test_the_page_in_chromium_shows_the_replayed_values_and_follows_new_frames(tmp_path, broker):
    replay = Replay(KAIFA_REPLAY, speed=10, loop=True)
    fw = Firmware(tmp_path, {"mqtt": {"host": "127.0.0.1", "port": broker.port}, "meter": {"serial": "kaifa"}}, replay.port)
    try:
        wait_until(lambda: fw.status()["energy"], 60, "the hourly list 3")
        url = "http://127.0.0.1:%d/" % fw.http_port
        first = _chromium(tmp_path, url, "--dump-dom")
        messages = [m for f in _replay_frames(KAIFA_REPLAY) for m in Pipeline().feed(f).messages]
        shown_as = lambda v: ("%.3f" % v).rstrip("0").rstrip(".")  # JavaScript drops trailing zeros
        values = lambda name: {shown_as(m[name]) for m in messages if name in m}
        assert _shown(first, "meter_id") == KAIFA_METER
        assert _shown(first, "meter_manufacturer") == "Kaifa" and _shown(first, "meter_type") == "MA304H3E"
        assert _shown(first, "active_energy_import") == "79591.144"
        assert _shown(first, "reactive_energy_export") == "3210.932"
        assert _shown(first, "active_energy_export") == "0.000"  # the decimals as sent, not JavaScript's 0
        for name in ("active_power_import", "current_l1", "current_l3", "voltage_l1", "voltage_l3"):
            assert _shown(first, name) in values(name), name
        assert re.search(r'id="diag"[^>]*data-code="ok"', first)
        assert int(_shown(first, "frames_ok")) > 0 and _shown(first, "frames_bad") == "0"
        # the energy card's meter time is the registers' (list 3), not the last power message's
        assert _shown(first, "energy_datetime") == fw.status()["energy"]["meter_datetime"]
        assert 'id="meter_datetime"' not in first  # no other element for a power message's time to land in
        assert _shown(first, "rssi") == "n/a (not on Wi-Fi)"  # the unix port has no Wi-Fi
        assert re.fullmatch(r"\d+\.\d KB", _shown(first, "heap_free"))
        assert re.fullmatch(r"(\d+ min )?\d+ s", _shown(first, "uptime_s"))
        assert _shown(first, "config") == "ok" and re.search(r'id="config_errors" hidden', first)

        time.sleep(3)  # the replay goes on: new frames, new numbers
        second = _chromium(tmp_path, url, "--dump-dom")
        assert int(_shown(second, "frames_ok")) > int(_shown(first, "frames_ok"))
        uptime = lambda dom: int(re.search(r'id="uptime_s" data-s="(\d+)"', dom).group(1))
        assert uptime(second) > uptime(first)
        assert "points=" in second  # the 15-minute graph has a line

        os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
        _chromium(tmp_path, url, "--screenshot=" + SCREENSHOT)
        assert os.path.getsize(SCREENSHOT) > 10000
    finally:
        fw.kill()
        replay.stop()


def _points(dom):
    m = re.search(r'id="line"[^>]*points="([^"]*)"', dom)
    return [tuple(float(v) for v in p.split(",")) for p in m.group(1).split()] if m else []


def test_a_steady_load_is_drawn_mid_graph_a_config_error_is_in_the_banner_and_rssi_in_words(tmp_path):
    # one list 1 frame again and again: a constant power, which used to be drawn on the top edge;
    # and "mqtt": "192.168.1.10", a section of the wrong type, which the page must show at the top
    frame = good_hdlc("kaifa")[0]
    capture = tmp_path / "steady.hanlog"
    _hanlog(capture, [frame["bytes"]] * 200, 0.5)
    replay = Replay(capture, speed=1, loop=True)
    control = tmp_path / "wifi.control"  # and a Wi-Fi link (the stand-in's signal is -58 dBm)
    control.write_text("up")
    fw = Firmware(tmp_path, {"mqtt": "192.168.1.10", "meter": {"serial": "kaifa"}, "wifi": {"ssid": "home"}}, replay.port,
                  wifi_control=control)
    try:
        wait_until(lambda: len([x for x in fw.status()["history"]["net_power"] if x is not None]) >= 2, 60, "two samples")
        dom = _chromium(tmp_path, "http://127.0.0.1:%d/" % fw.http_port, "--dump-dom")
        points = _points(dom)
        heights = {y for _, y in points}
        assert len(points) >= 2 and len(heights) == 1 and 40 < heights.pop() < 60, points  # mid-height, flat
        assert _shown(dom, "graph_range") == "4060 to 4170 W"  # 4117 W with a 50 W margin, rounded to 10 W
        banner = _shown(dom, "config_errors")
        assert banner.startswith('config.json: mqtt: must be an object {...} of mqtt.* fields, such as {"host": "192.168.1.10"}')
        assert not re.search(r'id="config_errors" hidden', dom) and _shown(dom, "config") == "1 error (see the top)"
        assert _shown(dom, "rssi") == "-58 dBm (good)"
        _chromium(tmp_path, "http://127.0.0.1:%d/" % fw.http_port, "--screenshot=" + str(tmp_path / "steady.png"))
        os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
        shutil.copy(str(tmp_path / "steady.png"), os.path.join(os.path.dirname(SCREENSHOT), "status-page-steady.png"))
    finally:
        fw.kill()
        replay.stop()


def _page_function(name):
    # one function of the page's script, as the browser gets it
    with open(os.path.join(ROOT, "lib", "status_page.html")) as f:
        m = re.search(r"^function %s\(.*?^\}$" % name, f.read(), re.M | re.S)
    assert m, name
    return m.group(0)


def test_uptime_reads_in_days_hours_minutes_and_rssi_in_words():
    script = _page_function("ago") + _page_function("rssi") + """
    console.log(JSON.stringify([0, 59, 65, 3600, 5 * 3600 + 3 * 60 + 7, 3 * 86400 + 4 * 3600 + 12 * 60].map(ago)));
    console.log(JSON.stringify([-40, -55, -56, -67, -70, -75, -90, null].map(rssi)));"""
    p = subprocess.run([shutil.which("node") or "/usr/bin/node", "-e", script], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    uptimes, signals = [json.loads(line) for line in p.stdout.splitlines()]
    assert uptimes == ["0 s", "59 s", "1 min 5 s", "1 h 0 min", "5 h 3 min", "3 d 4 h 12 min"]
    assert signals == ["-40 dBm (excellent)", "-55 dBm (excellent)", "-56 dBm (good)", "-67 dBm (good)",
                       "-70 dBm (fair)", "-75 dBm (fair)", "-90 dBm (weak)", "n/a (not on Wi-Fi)"]


def test_decimals_stay_as_sent_and_hours_read_as_clock_times():
    # exact(): numbers with a point become strings before JSON.parse, so 0.500 is not shown as 0.5;
    # strings (a message quoting a number, an escaped quote) and integers are left alone
    script = _page_function("exact") + _page_function("when") + r"""
    const text = '{"a": 0.500, "b": "x: 1.5 \\" 2.0", "c": [1, -2.50, 0.0, 1.5e3], "d": {"e": 12345.678}}';
    console.log(JSON.stringify(JSON.parse(exact(text))));
    console.log(JSON.stringify([when("2026-03-04T07:00+01:00"), when("2026-03-04T07:00+01:00", 1),
                                when("2026-10-25T02:00+02:00", 1), when("2026-12-31T23:00+01:00", 1)]));"""
    p = subprocess.run([shutil.which("node") or "/usr/bin/node", "-e", script], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    parsed, labels = [json.loads(line) for line in p.stdout.splitlines()]
    assert parsed == {"a": "0.500", "b": 'x: 1.5 " 2.0', "c": [1, "-2.50", "0.0", "1.5e3"], "d": {"e": "12345.678"}}
    assert labels == ["07:00", "Mar 4, 07:00", "Oct 25, 02:00", "Dec 31, 23:00"]


def _exchange(port, data, wait=5):
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    return out
                out += chunk
        except (ConnectionResetError, socket.timeout):
            return out


def test_the_server_survives_abuse_without_stalling_the_uart(tmp_path, broker):
    replay = Replay(KAIFA_REPLAY, speed=10, loop=True)
    fw = Firmware(tmp_path, {"mqtt": {"host": "127.0.0.1", "port": broker.port}}, replay.port)
    port = fw.http_port
    try:
        wait_until(lambda: fw.status()["decoder"]["decoded"] >= 5, 60, "decoding")
        assert _exchange(port, b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.0 400")
        assert _exchange(port, b"\x00\xff\xfe\r\n\r\n").startswith(b"HTTP/1.0 400")
        assert _exchange(port, b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n").startswith(b"HTTP/1.0 413")
        for path in (b"/config.json", b"/../config.json", b"/boards/host.json", b"/lib/app.py", b"/%2e%2e/config.json"):
            assert _exchange(port, b"GET " + path + b" HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 404"), path
        assert _exchange(port, b"POST /api/status HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 405")

        slow = socket.create_connection(("127.0.0.1", port))  # one byte, then nothing for a minute
        slow.sendall(b"G")
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]  # the others fill the slots
        time.sleep(0.3)
        assert _exchange(port, b"GET / HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 503")
        slow.settimeout(30)
        assert slow.recv(100) == b""  # dropped after the client timeout, never waited for
        for s in idle + [slow]:
            s.close()

        for _ in range(20):  # a burst of good requests
            assert _exchange(port, b"GET /api/status HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200")
        before = fw.status()["decoder"]["decoded"]
        wait_until(lambda: fw.status()["decoder"]["decoded"] > before + 5, 60, "more frames after the abuse")
        s = fw.status()
        assert s["uart"]["overflow"] == 0 and s["frames"]["bad_fcs"] == 0 and s["frames"]["bad_hcs"] == 0
        assert s["frames"]["skipped_bytes"] == 0 and s["frames"]["ok"] == s["decoder"]["decoded"]
        assert fw.get("/")[0] == 200 and fw.proc.poll() is None
    finally:
        fw.kill()
        replay.stop()


def _diagnosis_with(tmp_path, frames, serial="kaifa"):
    capture = tmp_path / "capture.hanlog"
    _hanlog(capture, frames, 0.1)
    replay = Replay(capture, speed=1, loop=True)
    fw = Firmware(tmp_path, {"mqtt": {"host": "127.0.0.1", "port": 1}, "meter": {"serial": serial}}, replay.port, grace_s=0)
    return replay, fw


def _expect_diagnosis(fw, code, *words):
    d = wait_until(lambda: fw.status()["diagnosis"]["code"] == code and fw.status()["diagnosis"], 60, "diagnosis " + code)
    for w in words:
        assert w in d["message"], (w, d["message"])
    return d


def test_no_bytes_at_all_points_at_the_grid_company_and_the_wiring(tmp_path):
    fw = Firmware(tmp_path, {"mqtt": {"host": "127.0.0.1", "port": 1}}, uart_port=1, grace_s=0)
    try:
        _expect_diagnosis(fw, "no_bytes", "grid company", "HAN port", "RX pin")
        dom = _chromium(tmp_path, "http://127.0.0.1:%d/" % fw.http_port, "--dump-dom")  # no accounting yet: it says why
        assert _shown(dom, "acc_wait") == "Waiting for a message with the meter's clock."
        assert re.search(r'id="acc_data"[^>]*hidden', dom)
    finally:
        fw.kill()


def test_bytes_without_valid_frames_name_the_serial_setting_to_try(tmp_path):
    rnd = random.Random(5)
    garbage = [bytes(rnd.getrandbits(8) for _ in range(40)) for _ in range(20)]
    replay, fw = _diagnosis_with(tmp_path, garbage)
    try:
        _expect_diagnosis(fw, "no_valid_frames", "2400 8E1", "2400 8N1", "invert")
    finally:
        fw.kill()
        replay.stop()


def test_an_unknown_layout_is_reported_with_its_list_id(tmp_path):
    # a Slovenian Landis+Gyr list (the Iskraemeco ones are known: test_layouts_abroad.py)
    frames = [r["bytes"] for r in good_hdlc("landisgyr") if r["id"] == "lg-ams-em-si2026-1"]
    replay, fw = _diagnosis_with(tmp_path, frames)
    try:
        _expect_diagnosis(fw, "unknown_layout", "999999999999", "capture")
        assert fw.status()["decoder"]["unknown_list"] == "999999999999"
    finally:
        fw.kill()
        replay.stop()


def test_encrypted_frames_say_so(tmp_path):
    frames = [r["bytes"] for r in records("encrypted") if r["framing"] == "hdlc" and r["crc_ok"]]
    replay, fw = _diagnosis_with(tmp_path, frames)
    try:
        _expect_diagnosis(fw, "encrypted", "encrypted")
    finally:
        fw.kill()
        replay.stop()


# --- the energy accounting card, against the virtual meter ---

def _vm_capture(path, maker, start, seconds, lose):
    # the virtual meter's lists 2 and 3 as a capture (list 1 is not the point: five times fewer frames),
    # without the list 3 of the meter-clock hours in lose (Unix times); the meter itself for the truth
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import hanlog
    from virtual_meter import VirtualMeter

    vm = VirtualMeter(maker, start, seed=3)
    t0 = vm.start
    records = [(ms / 1000 - t0, frame) for ms, n, frame in vm.pushes(seconds, (2, 3))
               if not (n == 3 and ms // 1000 - ms // 1000 % 3600 in lose)]
    hanlog.write(str(path), records)
    return vm


def _elements(dom, tag, cls):
    # (attributes, text) of each <tag class="...cls..."> in the dumped DOM
    found = []
    for m in re.finditer(r"<%s ([^>]*)>(.*?)</%s>" % (tag, tag), dom, re.S):
        attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', m.group(1)))
        if cls in attrs.get("class", "").split():
            found.append((attrs, re.sub(r"<[^>]*>", "", m.group(2))))
    return found


def _kwh(wh):
    return "%d.%03d" % divmod(wh, 1000)  # Kaifa counts Wh: 3 decimals


def test_the_accounting_card_shows_the_hours_the_month_peaks_and_the_estimated_hours_of_a_virtual_meter(tmp_path):
    # five hours of a Kaifa meter across midnight, played 1000 times faster, the register message
    # of 00:00 lost: 23:00 and 00:00 are split by the power, the others are the registers' differences
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import oslo_time

    at = oslo_time.parse_local
    lost = at("2026-03-04T00:00")
    vm = _vm_capture(tmp_path / "night.hanlog", "kaifa", "2026-03-03T21:50", 5 * 3600 + 1200, (lost,))
    replay = Replay(tmp_path / "night.hanlog", speed=1000)
    fw = Firmware(tmp_path, {"mqtt": {"host": "127.0.0.1", "port": 1}, "meter": {"serial": "kaifa"}}, replay.port)
    try:
        wait_until(replay.done, 120, "the capture played")
        acc = wait_until(lambda: (fw.status().get("accounting") or {}).get("hours") and
                         len(fw.status()["accounting"]["hours"]) == 5 and fw.status()["accounting"], 30, "five hours")
        raw = json.loads(fw.get("/api/status")[1], parse_float=str)["accounting"]  # the decimals as sent
        dom = _chromium(tmp_path, "http://127.0.0.1:%d/" % fw.http_port, "--dump-dom")

        hours = [at("2026-03-03T22:00") + 3600 * i for i in range(5)]
        labels = ["2026-03-03T22:00+01:00", "2026-03-03T23:00+01:00", "2026-03-04T00:00+01:00",
                  "2026-03-04T01:00+01:00", "2026-03-04T02:00+01:00"]
        true = [vm.hours[h + 3600][0] - vm.hours[h][0] for h in hours]
        bars = _elements(dom, "rect", "hour")
        assert [a["data-hour"] for a, _ in bars] == labels
        est = [a["data-hour"] for a, _ in bars if "est" in a["class"].split()]
        assert est == labels[1:3]  # the two hours the lost register message spans, visibly marked
        shown = [a["data-kwh"] for a, _ in bars]
        assert [shown[i] for i in (0, 3, 4)] == [_kwh(true[i]) for i in (0, 3, 4)]  # exact, from the registers
        split = sum(int(s.replace(".", "")) for s in shown[1:3])
        assert split == true[1] + true[2]  # the estimated hours add up to the register difference exactly
        assert [h[0] for h in raw["hours"]] == labels and shown == [h[1] for h in raw["hours"]]
        # each day's highest hour is a peak of the month, marked in the chart and listed with its kWh
        day3, day4 = max(zip(shown[:2], labels[:2]), key=lambda x: float(x[0])), max(zip(shown[2:], labels[2:]), key=lambda x: float(x[0]))
        peaks = sorted([day3, day4], key=lambda x: -float(x[0]))
        assert [(p["kwh"], p["hour"]) for p in raw["month"]["peaks"]] == peaks
        assert sorted(a["data-hour"] for a, _ in bars if "peak" in a["class"].split()) == sorted(p[1] for p in peaks)
        rows = re.findall(r'<tr class="pk"><td>([^<]*)</td><td>([^<]*)</td></tr>', dom.split("<script>")[0])
        assert rows == [("Mar %d, %s" % (int(h[8:10]), h[11:16]), k + " kWh") for k, h in peaks]
        assert _shown(dom, "peak_mean") == raw["month"]["peak_mean_kw"]
        assert _shown(dom, "step") == "%s-%s kW" % tuple(raw["month"]["step_kw"])
        assert _shown(dom, "rise") == str(raw["month"]["rise_kw"]) + " kW"
        # this hour and today, as sent
        h, t = raw["hour"], raw["today"]
        assert h["start"] == "2026-03-04T03:00+01:00" and _shown(dom, "hour_start") == "03:00-04:00"
        assert _shown(dom, "hour_import") == h["import_kwh"] and _shown(dom, "hour_projected") == h["projected_kwh"]
        assert _shown(dom, "hour_left") == h["left_kwh"] + " kWh"
        assert _shown(dom, "today_date") == "2026-03-04" and _shown(dom, "today_import") == t["import_kwh"]
        assert _shown(dom, "today_export") == t["export_kwh"] == "0.000"  # no solar: the exact zero as sent
        assert _shown(dom, "today_peak") == "%s, %s kWh" % (day4[1][11:16], day4[0])
        assert re.search(r'id="acc_wait"[^>]*hidden', dom) and not re.search(r'id="acc_data"[^>]*hidden', dom)

        for width, name in ((1100, "desktop"), (390, "phone")):
            shot = str(tmp_path / ("accounting-%s.png" % name))
            _chromium(tmp_path, "http://127.0.0.1:%d/" % fw.http_port, "--window-size=%d,1400" % width, "--screenshot=" + shot)
            os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
            shutil.copy(shot, os.path.join(os.path.dirname(SCREENSHOT), "status-page-accounting-%s.png" % name))
    finally:
        fw.kill()
        replay.stop()
