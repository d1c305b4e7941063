# bench_firmware.py Provides the whole-firmware half of make bench: latency from the meter's last byte to MQTT, and steady-state heap.
# MIT license
#
# firmware/main.py runs on the MicroPython unix port with the ESP32-like heap, against mosquitto; this script is
# the meter: it listens on a TCP port, the firmware's HostUart connects to it (as to tools/replay.py), and real
# Kaifa frames are written to it one at a time. Run by tools/bench.py, or alone:
#   .venv/bin/python tools/bench_firmware.py [--json]     (--json: the figures as JSON on the last line)
# A benchmark, not a test: odd figures are printed as they are; it fails only if a step cannot run.

import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "host_tests"))

from harness import ESP32_LIKE_HEAP, HOST_LIB, Broker, Firmware, Recorder, wait_until  # noqa: E402

TOPIC = "han/test/power"  # the harness runs the firmware as device "test"
CORPUS = "host_tests/fixtures/kaifa.jsonl"
# List 1 and list 2 of one meter, in turn: frames of two meters would make the firmware republish the
# meter identity and its discovery configs at every change, which no real meter causes
FRAME_IDS = ("kaifa-ams-gh493-2", "kaifa-ams-gh493-1")
LATENCY_FRAMES = 100
GAP_S = 0.3  # a meter never sends back to back (lists 1 and 2 come every 2-10 s)
HEAP_FRAMES = 1000
HEAP_GAP_S = 0.005  # fast, but the firmware's 2048-byte ring and 20 ms loop keep up easily
WAIT_S = 5  # deadline for each message; a frame whose message does not come in time counts as lost


class TimedRecorder(Recorder):
    # the harness's recorder, also noting when each message arrived
    def __init__(self, port, topics):
        self.arrivals = []
        super().__init__(port, topics)

    def _on_message(self, client, userdata, msg):
        self.arrivals.append(time.perf_counter())
        super()._on_message(client, userdata, msg)


def frames():
    with open(os.path.join(ROOT, CORPUS)) as f:
        records = {o["id"]: o for o in map(json.loads, filter(str.strip, f))}
    return [bytes.fromhex(records[i]["hex"]) for i in FRAME_IDS if records[i]["framing"] == "hdlc" and records[i]["crc_ok"]]


def send_timed(uart, frame, rec):
    # ms from the last byte written to the message's arrival, or None if it did not come in time.
    # The firmware polls its UART every 20 ms (lib/app.py _LOOP_MS), so a frame waits 0 to 20 ms before it is
    # even read: that, not decoding, sets the floor. The arrival is seen by a subscriber on the same broker,
    # so the figure also holds the broker's forwarding over loopback (well under a millisecond).
    seen = len(rec.arrivals)
    uart.sendall(frame)
    t0 = time.perf_counter()
    while len(rec.arrivals) == seen and time.perf_counter() - t0 < WAIT_S:
        time.sleep(0.0005)
    return (rec.arrivals[seen] - t0) * 1000 if len(rec.arrivals) > seen else None


def heap(fw, decoded):
    # heap_alloc is taken after the gc.collect() the firmware runs every second: wait for one after the last frame
    try:
        wait_until(lambda: fw.status()["decoder"]["decoded"] >= decoded, 30, "%d frames decoded" % decoded)
    except AssertionError as e:
        print("WARNING: " + str(e))
    time.sleep(1.2)
    s = fw.status()
    return {"frames": decoded, "decoded": s["decoder"]["decoded"], "heap_alloc": s["heap_alloc"], "heap_free": s["heap_free"]}


def measure(uart, fw, rec, sample):
    for f in sample:  # warm-up: one pass of the frames, for the one-off meter and discovery messages
        send_timed(uart, f, rec)
        time.sleep(GAP_S)
    lat = []
    for i in range(LATENCY_FRAMES):
        lat.append(send_timed(uart, sample[i % len(sample)], rec))
        time.sleep(GAP_S)
    sent = len(sample) + LATENCY_FRAMES
    early = heap(fw, sent)
    for i in range(HEAP_FRAMES):
        uart.sendall(sample[i % len(sample)])
        time.sleep(HEAP_GAP_S)
    late = heap(fw, sent + HEAP_FRAMES)
    ok = sorted(x for x in lat if x is not None)
    latency = {"frames": len(lat), "lost": len(lat) - len(ok), "median": None, "p90": None, "max": None}
    if len(ok) >= 2:
        latency.update(median=round(statistics.median(ok), 2), p90=round(statistics.quantiles(ok, n=10)[8], 2), max=round(ok[-1], 2))
    return {"heapsize": ESP32_LIKE_HEAP, "corpus": CORPUS, "frame_ids": list(FRAME_IDS), "loop_ms": 20, "latency_ms": latency,
            "heap": [early, late], "messages_received": len(rec.arrivals), "frames_sent": sent + HEAP_FRAMES}


def run():
    if not (shutil.which("mosquitto") or os.path.exists("/usr/sbin/mosquitto")):
        sys.exit("bench_firmware: mosquitto is not installed (make system-deps installs it)")
    if not os.path.exists(os.path.join(HOST_LIB, "umqtt", "simple.py")):
        sys.exit("bench_firmware: umqtt.simple for the unix port is missing (make host-lib fetches it)")
    sample = frames()
    if not sample:
        sys.exit("bench_firmware: frames %s not found in %s" % (", ".join(FRAME_IDS), CORPUS))
    broker = rec = meter = fw = uart = None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            broker = Broker(tmp)
            rec = TimedRecorder(broker.port, (TOPIC,))
            meter = socket.create_server(("127.0.0.1", 0))
            meter.settimeout(20)
            config = {"mqtt": {"host": "127.0.0.1", "port": broker.port}, "meter": {"serial": "kaifa"}}
            fw = Firmware(tmp, config, meter.getsockname()[1], heapsize=ESP32_LIKE_HEAP)
            uart = meter.accept()[0]
            uart.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each write goes out at once, as on a wire
            wait_until(lambda: fw.status()["mqtt"]["state"] == "connected", 30, "the firmware's MQTT connection")
            return measure(uart, fw, rec, sample)
        finally:
            for stop in (uart and uart.close, meter and meter.close, fw and fw.stop, rec and rec.close, broker and broker.stop):
                try:
                    if stop:
                        stop()
                except Exception as e:  # keep stopping the rest
                    print("bench_firmware: while stopping: %r" % e, file=sys.stderr)


def report(r):
    lat, (early, late) = r["latency_ms"], r["heap"]
    print("Firmware on the unix port (-X heapsize=%s), Kaifa list 1 and 2 frames from %s" % (r["heapsize"], r["corpus"]))
    if lat["median"] is None:
        print("  latency last byte -> broker      no figure: %d of %d messages lost" % (lat["lost"], lat["frames"]))
    else:
        print("  latency last byte -> broker      median %.1f ms, p90 %.1f ms, max %.1f ms (%d frames)" % (
            lat["median"], lat["p90"], lat["max"], lat["frames"]))
    print("  heap in use after gc.collect()   {:,} bytes after {} frames, {:,} after {} (free {:,}, then {:,})".format(
        early["heap_alloc"], early["frames"], late["heap_alloc"], late["frames"], early["heap_free"], late["heap_free"]))
    if lat["lost"] or r["messages_received"] != r["frames_sent"] or late["decoded"] != late["frames"]:
        print("WARNING: %d frames sent, %d decoded, %d power messages received, %d timed frames lost" % (
            r["frames_sent"], late["decoded"], r["messages_received"], lat["lost"]))


if __name__ == "__main__":
    result = run()
    report(result)
    if "--json" in sys.argv[1:]:
        print(json.dumps(result))
