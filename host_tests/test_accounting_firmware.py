# test_accounting_firmware.py Checks the accounting through the whole firmware: hours on MQTT, running totals booked in the right hour over two days, state kept across kills mid-hour and across midnight.
# The firmware on the unix port, a real mosquitto, and the virtual meter (tools/virtual_meter.py) as
# the meter: its frames are written to the firmware's TCP "UART" as fast as it takes them (a Kaifa
# meter puts its clock in every frame, so the accounting does not depend on the pace).

import json
import os
import socket
import sys

from harness import ROOT, Broker, Firmware, Recorder, wait_until

sys.path.append(os.path.join(ROOT, "tools"))
from virtual_meter import VirtualMeter  # noqa: E402
import oslo_time  # noqa: E402

P = "han/test/"
CONFIG = {"mqtt": {"host": "127.0.0.1"}, "meter": {"serial": "kaifa"}}


class Meter:
    # the virtual meter's side of the firmware's HostUart: one client at a time, frames when told
    def __init__(self, start):
        self.vm = VirtualMeter("kaifa", start, seed=3)
        self.pushes = self.vm.pushes(10 * 86400, (2, 3))  # list 1 left out: a fifth of the frames, power every 10 s
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.server.settimeout(30)
        self.port = self.server.getsockname()[1]
        self.client = None
        self.sent = 0  # frames sent to the firmware running now
        self.t = None  # the meter's time (Unix s) of the last frame taken from the meter
        self.next = None  # the frame after it

    def run_until(self, local, deliver=True):
        # the meter runs until its clock shows `local`; its frames go to the firmware unless not deliver
        end = oslo_time.parse_local(local)
        while True:
            if self.next is None:
                self.next = next(self.pushes)
            ms, _, frame = self.next
            if ms // 1000 >= end:  # the meter is not there yet: this frame is the next one
                return
            self.next = None
            self.t = ms // 1000
            if deliver:
                if self.client is None:
                    self.client, _ = self.server.accept()
                self.client.sendall(frame)
                self.sent += 1

    def hang_up(self):
        if self.client is not None:
            self.client.close()
            self.client = None
        self.sent = 0

    def close(self):
        self.hang_up()
        self.server.close()

    def true_hour(self, local):
        # (import Wh, export Wh) of the hour starting at `local` on the meter's clock
        h = oslo_time.parse_local(local)
        a, b = self.vm.hours[h], self.vm.hours[h + 3600]
        return b[0] - a[0], b[1] - a[1]


class Setup:
    def __init__(self, tmp_path, start):
        os.makedirs(str(tmp_path / "broker"))
        os.makedirs(str(tmp_path / "firmware"))
        self.tmp = tmp_path
        self.broker = Broker(tmp_path / "broker", persist=True)
        self.rec = Recorder(self.broker.port, topics=(P + "accounting", P + "totals", P + "hour"))
        self.meter = Meter(start)
        self.config = dict(CONFIG, mqtt={"host": "127.0.0.1", "port": self.broker.port})
        self.fw = None
        self.outputs = []

    def start(self):
        self.fw = Firmware(self.tmp / "firmware", self.config, self.meter.port)

    def kill(self):
        self.fw.kill()
        self.outputs.append(self.fw.output())
        self.meter.hang_up()

    def settle(self):
        # every frame sent so far is decoded, and its messages are at the broker
        wait_until(lambda: self.fw.status()["decoder"]["decoded"] == self.meter.sent, 120, "the frames decoded")
        n = self.fw.status()["mqtt"]["published"]
        wait_until(lambda: self.fw.status()["mqtt"]["published"] == n and self.fw.status()["mqtt"]["energy_queued"] == 0, 30, "quiet")

    def close(self):
        if self.fw:
            self.fw.kill()
        self.meter.close()
        self.rec.close()
        self.broker.stop()

    def hours(self):
        return {h["hour"]: h for h in map(json.loads, self.rec.on(P + "hour", live_only=True))}


def _wh(kwh):
    return round(kwh * 1000)


def _in_order(rec):
    # (hour start of the accounting message before it, totals) for each totals message, in order
    hour = None
    out = []
    for topic, payload, retained in rec.messages:
        if retained:
            continue
        m = json.loads(payload)
        if topic.endswith("/accounting") and m["hour"]:
            hour = m["hour"]["start"]
        elif topic.endswith("/totals"):
            out.append((hour, (_wh(m["import_kwh"]), _wh(m["export_kwh"]))))
    return out


def test_running_totals_land_in_the_right_hour_and_the_hours_are_the_registers_over_two_days(tmp_path):
    s = Setup(tmp_path, "2026-03-09T23:40")
    try:
        s.start()
        s.meter.run_until("2026-03-12T00:00:20")
        s.settle()
        hours = s.hours()
        day = ["2026-03-1%dT%02d:00+01:00" % (d, h) for d in (0, 1) for h in range(24)]
        assert set(day) <= set(hours)
        for label in day:
            h = hours[label]
            assert h["how"] == "register" and h["meter_id"] == s.meter.vm.meter_id
            assert (_wh(h["import_kwh"]), _wh(h["export_kwh"])) == s.meter.true_hour(label[:16]), label
        totals = _in_order(s.rec)
        imports = [t[1][0] for t in totals]
        assert imports == sorted(imports)  # never decreasing
        last = {}  # hour start -> the totals published last in it
        for hour, tot in totals:
            last[hour] = tot
        checked = 0
        for label in day:
            if label not in last:
                continue
            true = s.meter.vm.hours[oslo_time.parse_local(label[:16]) + 3600]
            imp = s.meter.true_hour(label[:16])[0]
            assert abs(last[label][0] - true[0]) <= max(5, imp // 100) + 1, (label, last[label], true)  # + the 1 Wh register
            checked += 1
        assert checked == 48
        live = json.loads(s.rec.on(P + "accounting")[-1])
        assert live["today"]["date"] == "2026-03-12" and live["month"]["month"] == "2026-03"
        assert [p["hour"][:10] for p in live["month"]["peaks"]] == ["2026-03-11", "2026-03-10"]  # the 9th had no whole hour
    finally:
        s.close()


def test_the_hours_are_right_after_kills_mid_hour_and_across_midnight(tmp_path):
    s = Setup(tmp_path, "2026-03-09T21:50")
    try:
        s.start()
        s.meter.run_until("2026-03-09T22:30")
        s.settle()
        s.kill()  # mid-hour: the frames of the next two minutes are lost
        s.meter.run_until("2026-03-09T22:32", deliver=False)
        s.start()
        s.meter.run_until("2026-03-09T23:59:30")
        s.settle()
        status = s.fw.status()["accounting"]
        assert status["hour"]["start"] == "2026-03-09T23:00+01:00" and status["today"]["date"] == "2026-03-09"
        assert [h[0] for h in status["hours"]] == ["2026-03-09T22:00+01:00"]
        s.kill()  # across midnight: down until after the meter's midnight, back before its registers come
        s.meter.run_until("2026-03-10T00:00:05", deliver=False)
        s.start()
        s.meter.run_until("2026-03-10T00:40")
        s.settle()
        s.kill()  # mid-hour again, just after a save
        s.start()
        s.meter.run_until("2026-03-10T01:00:20")
        s.settle()
        hours = s.hours()
        for label in ("2026-03-09T22:00", "2026-03-09T23:00", "2026-03-10T00:00"):
            h = hours[label + "+01:00"]
            assert h["how"] == "register" and (_wh(h["import_kwh"]), _wh(h["export_kwh"])) == s.meter.true_hour(label), h
        assert "2026-03-09T21:00+01:00" not in hours  # the dongle started in it: not whole
        imports = [t[1][0] for t in _in_order(s.rec)]
        assert imports == sorted(imports)  # never decreasing as published, across the kills
        status = s.fw.status()["accounting"]
        assert status["today"]["date"] == "2026-03-10" and status["today"]["peak"]["hour"] == "2026-03-10T00:00+01:00"
        assert [h[0] for h in status["hours"]] == ["2026-03-09T22:00+01:00", "2026-03-09T23:00+01:00", "2026-03-10T00:00+01:00"]
        assert all(o.count("accounting: state of ") == 1 for o in s.outputs[1:])  # each restart took the saved state
    finally:
        s.close()


def test_on_a_heap_as_small_as_a_plain_esp32s_the_accounting_is_off_and_says_why(tmp_path):
    # tariff.accounting "auto" (the default): its code does not fit beside the firmware in a plain
    # ESP32's heap; the status page and /api/status say so, and nothing of it goes to MQTT. "on" runs it.
    s = Setup(tmp_path, "2026-03-03T06:59:00")
    try:
        s.fw = Firmware(s.tmp / "firmware", s.config, s.meter.port, heapsize="224K")
        s.meter.run_until("2026-03-03T07:01:00")
        s.settle()
        off = s.fw.status()["accounting"]["off"]
        assert off.startswith("the heap is ") and "tariff.accounting on" in off, off
        assert "accounting: off, the heap is" in s.fw.output()
        assert not [t for t in s.rec.topics_seen() if t.startswith(P + ("accounting", "totals", "hour"))]
        s.kill()
        s.config = dict(s.config, tariff={"accounting": "on"})
        s.fw = Firmware(s.tmp / "firmware", s.config, s.meter.port, heapsize="224K")
        s.meter.run_until("2026-03-03T07:03:00")
        s.settle()
        assert "off" not in (s.fw.status()["accounting"] or {})
        wait_until(lambda: P + "accounting" in s.rec.topics_seen(), 30, "the live accounting message")
    finally:
        s.close()
