# soak.py Provides make soak: a day of a Kaifa meter through the whole firmware on the unix port, with broker restarts, Wi-Fi drops and kills.
# CPython; needs what `make test` installs (.venv, mosquitto).
#
#   .venv/bin/python tools/soak.py                  # 24 simulated hours at 500x: about 3 minutes
#   .venv/bin/python tools/soak.py --hours 3 --speed 300 --restart-every 2 --wifi-drops-at 1 --kills 1   # make test's short run
#
# An accelerated replay of N hours of a Kaifa meter at its real push intervals (list 1 every 2 s,
# list 2 every 10 s, the hourly list 3 with its own clock and a rising energy register) goes through
# firmware/main.py on the MicroPython unix port (compiled lib/, an ESP32-sized heap, the stand-in
# Wi-Fi of host_tests/mpy_wifi) to a real mosquitto. Simulated time is the capture time of the last
# frame the firmware decoded. On that clock the broker is stopped and started again every few hours,
# and the Wi-Fi link dropped, each time across an hourly list 3, so that energy message must wait in
# the firmware's queue. In the first two broker outages (--kills), once that hour's energy message
# waits in the queue on flash, the firmware is killed (SIGKILL: no goodbye, as a power cut) and
# started again on the same state directory; the meter is paused meanwhile, so the killed run has read
# all that was sent (a frame may still go to the dead socket: a reset loses the bytes on the wire too).
# At the end it checks that every frame was decoded (but at most one a kill) and nothing overflowed,
# every energy message arrived exactly once and in order, the queue came back whole after each kill,
# the heap after gc.collect() stayed flat, and the firmware process never restarted but for the
# kills, then prints the figures.
# Exit status: 0 when all checks hold, 1 when one fails (named on the console), 2 on a usage error.

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, d) for d in ("lib", "host_tests/shims", "host_tests", "tools")]

import ticks  # noqa: E402

ticks.install()  # lib/ modules (through corpus) use time.ticks_*

import hanlog  # noqa: E402
import harness  # noqa: E402
from corpus import Pipeline  # noqa: E402

ENERGY_TOPIC = "han/test/energy"  # HAN_DEVICE_ID=test
HEAP_MARGIN = 2048  # bytes the last third's peak may exceed the first third's
POLL_S = 0.5  # status sampling
FAST_POLL_S = 0.1  # ... when an outage is due soon
LEAD_MIN_S = 1200  # an outage starts at least 20 simulated minutes before its hour's list 3 ...
LEAD_REAL_S = {"broker restart": 1.5, "Wi-Fi drop": 3.0}  # ... and this long in real time (Wi-Fi is looked at every 2 s)
TRAIL_S = 300  # it ends no earlier than 5 simulated minutes after it
WARMUP_MIN_S = 600  # heap samples from the first 10 simulated minutes (boot, first connect) are left out
WARMUP_REAL_S = 2.0  # ... or the first 2 real seconds, whichever is longer
# heap_alloc is taken at the firmware's gc.collect() once a second; when that falls while the soak's own
# /api/status answer (~3.5 KB) is still being sent, the reading is that much higher for one second. The
# flatness check therefore compares the heap's sustained level: the lowest reading within each
# HEAP_WINDOW_S of real time, at its highest per third (a leak raises every reading; the raw
# min/max are printed too).
HEAP_WINDOW_S = 2.5
STALL_S = 15  # the replay has ended and no frame was decoded for this long: stop waiting
SETTLED_S = 1.0  # ... for this long, with at most a frame a kill missing: all that will come has come
DRAIN_S = 0.2  # a kill waits until the firmware's uart.bytes stays put this long with the meter paused


def parse_args(argv):
    p = argparse.ArgumentParser(prog="soak.py", description="Soak the whole firmware on the unix port: an accelerated day "
                                "of a Kaifa meter, broker restarts, Wi-Fi drops; checks and prints the figures.")
    p.add_argument("--hours", type=int, default=24, help="simulated hours (default 24: 43,200 frames)")
    p.add_argument("--speed", type=float, default=500, help="replay speed-up (default 500; the firmware's 2048-byte "
                   "ring must not overflow: uart.overflow is checked)")
    p.add_argument("--heap", default=harness.ESP32_LIKE_HEAP, help="unix port heap size (default %s)" % harness.ESP32_LIKE_HEAP)
    p.add_argument("--restart-every", type=int, default=4, metavar="H", help="restart the broker every H simulated hours (default 4)")
    p.add_argument("--wifi-drops-at", default=None, metavar="H,H",
                   help="drop Wi-Fi across the list 3 of these simulated hours (default: 6,18 of 24, scaled to --hours)")
    p.add_argument("--kills", type=int, default=None, metavar="N", help="kill the firmware (SIGKILL) and start it again "
                   "in each of the first N broker restarts (default 2, or as many restarts as there are)")
    p.add_argument("--broker-away-s", type=float, default=3.0, metavar="S", help="real seconds the broker stays stopped, at least (default 3)")
    p.add_argument("--wifi-down-s", type=float, default=5.0, metavar="S", help="real seconds the link stays down, at least (default 5)")
    p.add_argument("--keep", action="store_true", help="keep the work folder (capture, logs) even when all checks pass")
    p.add_argument("--json", metavar="FILE", help="also write the figures to FILE as JSON")
    args = p.parse_args(argv)
    if args.hours < 1:
        p.error("--hours must be at least 1")
    if not args.speed > 0:
        p.error("--speed must be more than 0")
    if args.restart_every < 1:
        p.error("--restart-every must be at least 1")
    restarts = list(range(args.restart_every, args.hours, args.restart_every))
    if args.wifi_drops_at is None:  # a quarter and three quarters in, where no restart is
        drops = sorted({max(1, args.hours // 4), max(1, args.hours * 3 // 4)} - set(restarts))
        drops = [h for h in drops if h < args.hours]
    else:
        try:
            drops = sorted({int(h) for h in args.wifi_drops_at.split(",") if h.strip()})
        except ValueError:
            p.error("--wifi-drops-at wants whole hours separated by commas, e.g. 7,17")
        if any(not 1 <= h < args.hours for h in drops):
            p.error("--wifi-drops-at: each hour must be from 1 to %d" % (args.hours - 1))
        if set(drops) & set(restarts):
            p.error("--wifi-drops-at: hour %d is also a broker restart" % min(set(drops) & set(restarts)))
    if args.kills is None:
        args.kills = min(2, len(restarts))
    if not 0 <= args.kills <= len(restarts):
        p.error("--kills: from 0 to the number of broker restarts (%d)" % len(restarts))
    args.restarts, args.drops = restarts, drops
    return args


class Outage:
    # a broker restart or a Wi-Fi drop across the list 3 of one hour, on the simulated clock
    def __init__(self, kind, hour, index, times, speed, min_real_s):
        self.kind, self.hour, self.index = kind, hour, index  # index: the list 3 record it must span
        self.list3_t = times[index]
        self.start_t = self.list3_t - max(LEAD_MIN_S, LEAD_REAL_S[kind] * speed)
        self.end_t = self.list3_t + TRAIL_S
        self.min_real_s = min_real_s
        self.began = self.ended = None  # real time
        self.recovered = None  # real time the firmware was connected again with its energy queue empty
        self.began_sim = self.ended_sim = None
        self.queued_max = 0  # the most energy messages the firmware held while it lasted
        self.states = set()  # MQTT states the firmware reported meanwhile
        self.late = False  # its list 3 was decoded before it began
        self.kill = False  # kill the firmware in it, once the hour's energy message is queued
        self.killed = None  # then: what the kill found, a dict

    def due(self, sim):
        return self.began is None and sim >= self.start_t

    def over(self, sim, decoded, now):
        return decoded > self.index and sim >= self.end_t and now - self.began >= self.min_real_s

    def describe(self):
        back = "%.1f s" % (self.recovered - self.ended) if self.recovered and self.ended else "never"
        k = self.killed
        kill = "; killed with %d queued, back with %d" % (k["queued_before"], k["queued_after"]) if k else ""
        return "%-14s hour %2d: sim %s-%s, %.1f s real; energy queued up to %d%s; MQTT back and queue empty %s after" % (
            self.kind, self.hour, _clock(self.began_sim), _clock(self.ended_sim), (self.ended or 0) - (self.began or 0),
            self.queued_max, kill, back)


def _clock(sim):
    # simulated seconds as meter time: the capture starts at 23:59:00
    if sim is None:
        return "--:--"
    t = int(sim + 23 * 3600 + 59 * 60)
    return "%s%02d:%02d" % ("+%dd " % (t // 86400 - 1) if t // 86400 > 1 else "", t // 3600 % 24, t // 60 % 60)


def _drained(fw):
    # the firmware's status once it has read everything sent (the meter is paused): uart.bytes stays put
    last = fw.status()
    for _ in range(100):
        time.sleep(DRAIN_S)
        s = fw.status()
        if s["uart"]["bytes"] == last["uart"]["bytes"] and s["decoder"]["decoded"] == last["decoder"]["decoded"]:
            return s
        last = s
    raise AssertionError("the firmware kept reading with the meter paused")


def kill_and_restart(fw, replay, start, run):
    # SIGKILL the firmware with the meter paused, keep its log, start it again on the same state directory.
    # Returns (the new firmware, the killed run's last status, its log).
    os.kill(replay.proc.pid, signal.SIGSTOP)
    try:
        last = _drained(fw)
        fw.kill()
        log = fw.output()
        os.rename(fw.log_path, fw.log_path[:-4] + "-run%d.log" % run)
        return start(), last, log
    finally:
        os.kill(replay.proc.pid, signal.SIGCONT)


def soak(args, work):
    hours, speed = args.hours, args.speed
    records, at3 = harness.kaifa_hours(hours)
    times = [t for t, _ in records]
    capture = os.path.join(work, "kaifa-%dh.hanlog" % hours)
    hanlog.write(capture, records, ["Kaifa, Norway, serial 2400 8E1. %d simulated hours for tools/soak.py; meter time from 23:59:00." % hours,
                                    "Generated by host_tests/harness.py kaifa_hours(): list 1 every 2 s, list 2 every 10 s, list 3 at hh:00:10."])
    want = [Pipeline().feed(records[i][1]).messages[0]["meter_datetime"] for i in at3]
    sent_bytes = sum(len(f) for _, f in records)
    outages = [Outage("broker restart", h, at3[h], times, speed, args.broker_away_s) for h in args.restarts]
    outages += [Outage("Wi-Fi drop", h, at3[h], times, speed, args.wifi_down_s) for h in args.drops]
    outages.sort(key=lambda o: o.start_t)
    for o in [o for o in outages if o.kind == "broker restart"][: args.kills]:
        o.kill = True
    print("soak: %d simulated hours: %d frames (%d list 3), %d bytes, at %gx; broker restarts at hours %s (firmware killed in %d), "
          "Wi-Fi drops at %s" % (hours, len(records), len(at3), sent_bytes, speed, _hours(args.restarts), args.kills, _hours(args.drops)),
          flush=True)

    control = os.path.join(work, "wifi.control")
    with open(control, "w") as f:
        f.write("up\n")
    broker = rec = replay = fw = None
    figures = {"hours": hours, "speed": speed, "heap": args.heap, "frames_sent": len(records), "bytes_sent": sent_bytes}
    samples = []  # (real s since start, sim s, status, run)
    failures = []
    killed = []  # (last status, log) of each killed run
    base = 0  # frames the killed runs decoded
    try:
        os.makedirs(os.path.join(work, "broker"))
        os.makedirs(os.path.join(work, "firmware"))
        broker = harness.Broker(os.path.join(work, "broker"), persist=True)
        rec = harness.Recorder(broker.port, topics=(ENERGY_TOPIC,), client_id="soak-recorder", clean_session=False, qos=1)
        replay = harness.Replay(capture, speed=speed)
        config = {"mqtt": {"host": "127.0.0.1", "port": broker.port}, "meter": {"serial": "kaifa"},
                  "wifi": {"ssid": "soak", "reset_after_s": 86400}}

        def start():
            return harness.Firmware(os.path.join(work, "firmware"), config, replay.port, heapsize=args.heap, compiled=True,
                                    wifi_control=control, device_sockets=False)  # the heap is measured: no Python socket stand-in

        fw = start()
        figures["firmware_log"] = fw.log_path
        t0 = time.monotonic()
        deadline = t0 + 3 * hours * 3600 / speed + 120 + 30 * len(outages)
        pending = list(outages)
        active = None
        next_report = t0 + 30
        progress = (0, t0)  # (decoded, when it last moved)
        while True:
            now = time.monotonic()
            if fw.proc.poll() is not None:
                failures.append("the firmware process ended (exit status %s)" % fw.proc.returncode)
                break
            try:
                s = fw.status()
            except AssertionError as e:
                failures.append("status page: %s" % str(e).splitlines()[0])
                break
            decoded = base + s["decoder"]["decoded"]
            sim = times[min(decoded, len(times)) - 1] if decoded else 0.0
            samples.append((now - t0, sim, s, len(killed)))
            if decoded != progress[0]:
                progress = (decoded, now)
            back = s["mqtt"]["state"] == "connected" and s["mqtt"]["energy_queued"] == 0
            for o in outages:
                if o.ended and not o.recovered and back:
                    o.recovered = now
            if active is not None:
                active.queued_max = max(active.queued_max, s["mqtt"]["energy_queued"])
                active.states.add(s["mqtt"]["state"])
                if active.kill and active.killed is None and decoded > active.index and s["mqtt"]["energy_queued"] >= 1:
                    fw, last, log = kill_and_restart(fw, replay, start, len(killed) + 1)
                    killed.append((last, log))
                    base += last["decoder"]["decoded"]
                    active.killed = {"queued_before": last["mqtt"]["energy_queued"], "queued_after": fw.status()["mqtt"]["energy_queued"],
                                     "decoded_before": last["decoder"]["decoded"]}
                    progress = (base, time.monotonic())
                    continue
                if active.over(sim, decoded, now):
                    if active.kind == "broker restart":
                        broker.start()
                    else:
                        with open(control, "w") as f:
                            f.write("up\n")
                    active.ended, active.ended_sim = time.monotonic(), sim
                    active = None
            # one outage at a time: the next waits until the firmware is back from the last one
            if active is None and pending and pending[0].due(sim) and all(o.recovered for o in outages if o.ended):
                active = pending.pop(0)
                active.late = decoded > active.index
                active.began, active.began_sim = time.monotonic(), sim
                if active.kind == "broker restart":
                    broker.stop()
                else:
                    with open(control, "w") as f:
                        f.write("down\n")
            # all frames decoded, but at most one a kill (sent to the dead socket): once nothing more comes
            caught_up = decoded >= len(records) or (decoded >= len(records) - len(killed) and now - progress[1] > SETTLED_S)
            if (active is None and not pending and replay.done() and caught_up and s["mqtt"]["state"] == "connected"
                    and s["mqtt"]["energy_queued"] == 0 and len(rec.on(ENERGY_TOPIC, live_only=True)) >= len(want)):
                break
            if replay.done() and decoded < len(records) - len(killed) and now - progress[1] > STALL_S:
                failures.append("the replay ended, but only %d of its %d frames were decoded" % (decoded, len(records)))
                break
            if now > deadline:
                failures.append("timed out after %.0f s: decoded %d of %d frames, replay %s, MQTT %s, %d energy message(s) queued, "
                                "%d of %d received" % (now - t0, decoded, len(records), "done" if replay.done() else "still playing",
                                                      s["mqtt"]["state"], s["mqtt"]["energy_queued"],
                                                      len(rec.on(ENERGY_TOPIC, live_only=True)), len(want)))
                break
            if now >= next_report:  # a sign of life on long runs
                next_report = now + 30
                print("soak: %4.0f s  sim %s  decoded %d/%d  heap %d  MQTT %s" % (
                    now - t0, _clock(sim), decoded, len(records), s["heap_alloc"], s["mqtt"]["state"]), flush=True)
            soon = pending and pending[0].start_t - sim < 2 * speed * POLL_S
            time.sleep(FAST_POLL_S if soon or active is not None else POLL_S)
        time.sleep(1.0)  # a late duplicate would come now
        if fw.proc.poll() is None:
            final = fw.status()
            samples.append((time.monotonic() - t0, samples[-1][1] if samples else 0.0, final, len(killed)))
        else:
            final = samples[-1][2] if samples else None
        figures["real_s"] = round(time.monotonic() - t0, 1)
        figures["status_bytes"] = len(json.dumps(final)) if final else None
        got = [json.loads(p)["meter_datetime"] for p in rec.on(ENERGY_TOPIC, live_only=True)]
        failures += check(args, figures, records, sent_bytes, want, got, final, samples, outages, fw, rec, killed)
    finally:
        for stop in (lambda: fw and fw.kill(), lambda: replay and replay.stop(), lambda: rec and rec.close(),
                     lambda: broker and broker.stop()):
            try:
                stop()
            except Exception as e:  # noqa: BLE001 - tearing down: report, go on with the rest
                print("soak: while stopping: %s" % e)
    return figures, failures


def _hours(hours):
    return ", ".join(str(h) for h in hours) or "none"


def _total(statuses):
    # the counters of several runs of the firmware, added up
    out = {"frames": {}, "decoder": {}, "uart": {}, "loop_errors": sum(s["loop_errors"] for s in statuses)}
    for part, keys in (("frames", ("ok", "bad_hcs", "bad_fcs", "oversize", "skipped_bytes")), ("uart", ("bytes", "overflow")),
                       ("decoder", ("decoded", "malformed", "unknown"))):
        for k in keys:
            out[part][k] = sum(s[part][k] for s in statuses)
    return out


def check(args, figures, records, sent_bytes, want, got, final, samples, outages, fw, rec, killed):
    failed = []

    def expect(ok, what):
        if not ok:
            failed.append(what)

    log = "".join(text for _, text in killed) + fw.output()  # every run's
    if final is None:
        return ["no status from the firmware at all"]
    sums = _total([s for s, _ in killed] + [final])
    fr, dec, uart, mq = sums["frames"], sums["decoder"], sums["uart"], final["mqtt"]
    n = len(records)
    lost = n - dec["decoded"]  # frames sent while a killed run was gone: at most one a kill
    figures.update(frames_ok=fr["ok"], decoded=dec["decoded"], uart_bytes=uart["bytes"], overflow=uart["overflow"],
                   bad_hcs=fr["bad_hcs"], bad_fcs=fr["bad_fcs"], oversize=fr["oversize"], skipped_bytes=fr["skipped_bytes"],
                   malformed=dec["malformed"], unknown=dec["unknown"], loop_errors=sums["loop_errors"], frames_lost_at_kills=lost)
    runs = " over %d runs (%d frame(s) lost at the kills)" % (len(killed) + 1, lost) if killed else ""
    print("  frames    sent %d = frames.ok %d = decoded %d%s; bytes sent %d, uart.bytes %d" % (
        n, fr["ok"], dec["decoded"], runs, sent_bytes, uart["bytes"]))
    print("            uart.overflow %d, bad_hcs %d, bad_fcs %d, oversize %d, skipped_bytes %d, malformed %d, unknown %d, loop_errors %d" % (
        uart["overflow"], fr["bad_hcs"], fr["bad_fcs"], fr["oversize"], fr["skipped_bytes"], dec["malformed"], dec["unknown"], sums["loop_errors"]))
    expect(fr["ok"] == dec["decoded"] and 0 <= lost <= len(killed), "frames: %d sent, %d passed the checksums, %d decoded%s" % (
        n, fr["ok"], dec["decoded"], ", more than one lost a kill" if killed else ""))
    longest = max(len(f) for _, f in records)
    expect(uart["bytes"] == sent_bytes if not lost else 0 < sent_bytes - uart["bytes"] <= lost * longest,
           "uart.bytes %d, but %d were sent%s" % (uart["bytes"], sent_bytes, " and %d frame(s) lost" % lost if lost else ""))
    spilled = [(real, sim) for real, sim, s, _ in samples if s["uart"]["overflow"]]
    if spilled:  # where the ring first ran over: a stall of the firmware's loop, at this speed-up
        figures["first_overflow"] = {"real_s": round(spilled[0][0], 1), "sim": _clock(spilled[0][1])}
        failed.append("the UART ring ran over first at %.1f s real (sim %s): the firmware's loop stalled longer than "
                      "the ring lasts at %gx (2048 bytes: %.0f ms); try a lower --speed" % (
                          spilled[0][0], _clock(spilled[0][1]), args.speed, 2048 / (sent_bytes / (args.hours * 3600) * args.speed) * 1000))
    for name, value in (("uart.overflow", uart["overflow"]), ("frames.bad_hcs", fr["bad_hcs"]), ("frames.bad_fcs", fr["bad_fcs"]),
                        ("frames.oversize", fr["oversize"]), ("frames.skipped_bytes", fr["skipped_bytes"]),
                        ("decoder.malformed", dec["malformed"]), ("decoder.unknown", dec["unknown"]), ("loop_errors", sums["loop_errors"])):
        expect(value == 0, "%s is %d" % (name, value))
    expect("Traceback" not in log, "the firmware printed a traceback")

    # energy: each hour once, in order, counting live deliveries only (a resubscription also brings the retained copy)
    dups = len(got) - len(set(got))
    in_order = got == want
    figures.update(energy_expected=len(want), energy_received=len(got), energy_in_order=in_order, energy_duplicates=dups,
                   energy_redelivered=rec.redelivered)
    print("  energy    %d/%d received, %s, %d duplicate(s)%s; first %s, last %s" % (
        len(got), len(want), "in order" if in_order else "NOT in order", dups,
        ", %d redelivered by the broker to the recorder (DUP)" % rec.redelivered if rec.redelivered else "",
        got[0] if got else "-", got[-1] if got else "-"))
    if not in_order:
        missing = [d for d in want if d not in got]
        extra = [d for d in got if d not in want]
        failed.append("energy messages: %d of %d received%s%s%s" % (
            len(got), len(want), "; missing %s" % ", ".join(missing[:5]) if missing else "",
            "; %d duplicate(s), e.g. %s" % (dups, [d for d in got if got.count(d) > 1][0]) if dups else "",
            "; unexpected %s" % ", ".join(extra[:5]) if extra else "" if missing or dups else "; out of order"))
    expect(mq["energy_queued"] == 0, "%d energy message(s) still queued in the firmware" % mq["energy_queued"])

    # the outages
    restarts = [o for o in outages if o.kind == "broker restart" and o.ended]
    drops = [o for o in outages if o.kind == "Wi-Fi drop" and o.ended]
    mqtt_connects = log.count("mqtt: connected to")
    wifi_connects = log.count("wifi: connected to")
    figures.update(broker_restarts=len(restarts), wifi_drops=len(drops), mqtt_connects=mqtt_connects, mqtt_reconnects=mqtt_connects - 1,
                   connection_lost=log.count("mqtt: connection lost"), wifi_connects=wifi_connects, recorder_connects=rec.connects,
                   power_dropped=mq["power_dropped"], mqtt_published=mq["published"],
                   outages=[{"kind": o.kind, "hour": o.hour, "real_s": round((o.ended or 0) - (o.began or 0), 1),
                             "energy_queued_max": o.queued_max, "mqtt_states": sorted(o.states),
                             "back_after_s": round(o.recovered - o.ended, 1) if o.recovered and o.ended else None,
                             "killed": o.killed} for o in outages])
    print("  outages   broker restarts %d of %d, Wi-Fi drops %d of %d; firmware killed (SIGKILL) and restarted in %d of %d" % (
        len(restarts), len(args.restarts), len(drops), len(args.drops), len(killed), args.kills))
    for o in outages:
        print("            %s" % o.describe())
    print("  mqtt      reconnects %d (%d x 'mqtt: connected', %d x 'connection lost'), Wi-Fi links %d, published %d, power dropped %d" % (
        mqtt_connects - 1, mqtt_connects, figures["connection_lost"], wifi_connects, mq["published"], mq["power_dropped"]))
    expect(len(restarts) == len(args.restarts), "broker restarts: %d of %d done" % (len(restarts), len(args.restarts)))
    expect(len(drops) == len(args.drops), "Wi-Fi drops: %d of %d done" % (len(drops), len(args.drops)))
    for o in outages:
        expect(o.ended is None or (not o.late and o.queued_max >= 1),
               "%s at hour %d: the hour's energy message did not wait in the firmware's queue (%s)" % (
                   o.kind, o.hour, "the outage began after it: the firmware was not back from the one before in time; "
                   "try a lower --speed" if o.late else "queued at most %d" % o.queued_max))
        expect(o.ended is None or o.recovered, "%s at hour %d: the firmware never reconnected and emptied its queue" % (o.kind, o.hour))
        k = o.killed
        expect(not o.kill or (k and k["queued_after"] == k["queued_before"] >= 1),
               "%s at hour %d: %s" % (o.kind, o.hour, "the firmware was never killed" if not k else
                                       "killed with %d energy message(s) queued, back with %d" % (k["queued_before"], k["queued_after"])))
    expect(mqtt_connects == 1 + len(restarts) + len(drops),
           "MQTT connected %d times, expected %d (once, then after each restart and drop)" % (mqtt_connects, 1 + len(restarts) + len(drops)))
    expect(wifi_connects == 1 + len(drops) + len(killed), "the firmware saw %d Wi-Fi links, expected %d (one a run, one a drop)" % (
        wifi_connects, 1 + len(drops) + len(killed)))

    # heap after gc.collect(), by thirds of the simulated day
    total = args.hours * 3600
    warm = min(total / 6, max(WARMUP_MIN_S, WARMUP_REAL_S * args.speed))
    thirds, levels = [[], [], []], [[], [], []]
    for i, (real, sim, s, _) in enumerate(samples):
        if sim < warm:
            continue
        window = [x["heap_alloc"] for r, _, x, _ in samples[i:] if r <= real + HEAP_WINDOW_S]
        third = min(2, int(sim * 3 // total))
        thirds[third].append(s["heap_alloc"])
        if samples[-1][0] >= real + HEAP_WINDOW_S:  # a whole window after it
            levels[third].append(min(window))
    figures["heap_thirds"] = [{"min": min(h), "max": max(h), "sustained_max": max(v) if v else None, "samples": len(h)} if h else None
                              for h, v in zip(thirds, levels)]
    figures["heap_samples"] = [[round(real, 1), round(sim), s["heap_alloc"], s["mqtt"]["state"], s["mqtt"]["energy_queued"]]
                               for real, sim, s, _ in samples]
    print("  heap      in use after gc.collect(), bytes, per third of the run from sim %s (min-max, sustained max):" % _clock(warm))
    print("            %s; heap_free at the end %d" % ("; ".join(
        "%d-%d, %d" % (min(h), max(h), max(v)) if h and v else "no samples" for h, v in zip(thirds, levels)), final["heap_free"]))
    if levels[0] and levels[2]:
        flat = max(levels[2]) <= max(levels[0]) + HEAP_MARGIN
        figures["heap_flat"] = flat
        expect(flat, "heap grew: the last third's sustained peak %d > the first third's %d + %d" % (max(levels[2]), max(levels[0]), HEAP_MARGIN))
    else:
        failed.append("heap: too few samples to compare the first and last thirds")

    # the process: never restarted but for the kills (each run's uptime goes on, the last one's since its start)
    ups = [(run, s["uptime_s"]) for _, _, s, run in samples]
    causes = {s["reset_cause"] for _, _, s, _ in samples}
    last_start = min(real for real, _, _, run in samples if run == len(killed))
    continuous = all(b >= a for (r, a), (q, b) in zip(ups, ups[1:]) if r == q) and ups[-1][1] + 3 >= samples[-1][0] - last_start
    alive = fw.proc.poll() is None
    figures.update(uptime_s=ups[-1][1], reset_causes=sorted(causes), process_alive=alive, samples=len(samples), firmware_runs=len(killed) + 1)
    print("  process   %s, reset_cause %s, uptime %d s %s%s, %d status samples" % (
        "alive" if alive else "ENDED", "/".join(sorted(causes)), ups[-1][1], "continuous" if continuous else "NOT continuous",
        " since the last kill" if killed else "", len(samples)))
    expect(alive, "the firmware process is gone")
    expect(causes == {"process start"}, "reset_cause: %s" % sorted(causes))
    expect(continuous, "uptime went back or lags the run: the firmware restarted (other than by the kills)")
    return failed


def main(argv):
    args = parse_args(argv)
    work = tempfile.mkdtemp(prefix="han-soak-")
    started = time.monotonic()
    try:
        figures, failures = soak(args, work)
    except (AssertionError, OSError) as e:  # the harness could not start something
        figures, failures = {}, ["setup: %s" % e]
    print("  duration  %.1f s real for %d simulated hours (%.0fx)" % (time.monotonic() - started, args.hours, args.speed))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(figures, failures=failures), f, indent=1)
    if failures:
        print("soak: FAILED")
        for f in failures:
            print("  - " + f)
        print("soak: the firmware's log, the capture and the broker's files are in %s" % work)
        return 1
    print("soak: PASSED")
    if args.keep:
        print("soak: the firmware's log, the capture and the broker's files are in %s" % work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
