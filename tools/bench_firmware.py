# bench_firmware.py Provides the firmware half of make bench: latency from a frame's last byte to MQTT, and heap.
# MIT license
#
# firmware/main.py on the MicroPython unix port with the ESP32-like heap, against mosquitto. This script is the
# meter: the firmware's HostUart connects to its TCP port (as to tools/replay.py) and gets real Kaifa frames.
# Then the heap budget (docs/firmware.md, Memory): the energy queue full and four page clients, on the 32-bit
# runtime (npm's WebAssembly MicroPython, host_tests/harness32.py) and on the unix port (x64).
# Run by tools/bench.py, or: .venv/bin/python tools/bench_firmware.py [--json] (then the last line is JSON).
# A benchmark, not a test: odd figures are printed as they are; it fails only if a step cannot run.

import contextlib
import json
import os
import random
import shutil
import socket
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "host_tests"), os.path.join(ROOT, "lib"), os.path.join(ROOT, "host_tests", "shims")]

from harness import ESP32_LIKE_HEAP, Broker, Firmware, Recorder, Replay, free_port, wait_until  # noqa: E402
import harness32  # noqa: E402

TOPIC = "han/test/power"  # the harness runs the firmware as device "test"
CORPUS = "host_tests/fixtures/kaifa.jsonl"
# List 1 and list 2 of one meter, in turn: frames of two meters would make the firmware republish the
# meter identity and its discovery configs at every change, which no real meter causes
FRAME_IDS = ("kaifa-ams-gh493-2", "kaifa-ams-gh493-1")
LATENCY_FRAMES = 100
GAP_S = 0.3  # a meter never sends back to back (lists 1 and 2 come every 2-10 s); plus a random part of one
JITTER_S = 0.02  # firmware loop, as a meter's clock owes nothing to it: a fixed 0.3 s would lock onto the loop's phase
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
    out = [bytes.fromhex(records[i]["hex"]) for i in FRAME_IDS if records[i]["framing"] == "hdlc" and records[i]["crc_ok"]]
    if len(out) != len(FRAME_IDS):
        sys.exit("bench_firmware: %s are not all good HDLC frames in %s" % (", ".join(FRAME_IDS), CORPUS))
    return out


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
    lat = []
    sent = len(sample) + LATENCY_FRAMES  # the first pass over the frames is a warm-up (one-off meter and discovery messages)
    for i in range(sent):
        ms = send_timed(uart, sample[i % len(sample)], rec)
        if i >= len(sample):
            lat.append(ms)
        time.sleep(GAP_S + random.uniform(0, JITTER_S))
    early = heap(fw, sent)
    for i in range(HEAP_FRAMES):
        uart.sendall(sample[i % len(sample)])
        time.sleep(HEAP_GAP_S)
    late = heap(fw, sent + HEAP_FRAMES)
    ok = sorted(x for x in lat if x is not None)
    latency = {"frames": len(lat), "lost": len(lat) - len(ok), "median": None, "p90": None, "max": None}
    if ok:
        latency.update(median=round(statistics.median(ok), 2), p90=round(ok[int(0.9 * (len(ok) - 1))], 2), max=round(ok[-1], 2))
    return {"heapsize": ESP32_LIKE_HEAP, "corpus": CORPUS, "frame_ids": list(FRAME_IDS), "loop_ms": 20,
            "latency_ms": latency, "heap": [early, late], "messages_received": len(rec.arrivals),
            "frames_sent": sent + HEAP_FRAMES}


def run():
    if not (shutil.which("mosquitto") or os.path.exists("/usr/sbin/mosquitto")):
        sys.exit("bench_firmware: mosquitto is not installed (make system-deps installs it)")
    sample = frames()
    # the exit stack stops whatever was started, last first, however the run ends (as nested finally blocks would)
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        broker = Broker(tmp)
        stack.callback(broker.stop)
        rec = TimedRecorder(broker.port, (TOPIC,))
        stack.callback(rec.close)
        meter = stack.enter_context(socket.create_server(("127.0.0.1", 0)))
        meter.settimeout(20)
        config = {"mqtt": {"host": "127.0.0.1", "port": broker.port}, "meter": {"serial": "kaifa"}}
        fw = None
        try:  # a firmware that dies or stalls fails the bench, with the end of its log
            fw = Firmware(tmp, config, meter.getsockname()[1], heapsize=ESP32_LIKE_HEAP, compiled=True, device_sockets=False)
            stack.callback(fw.stop)
            uart = stack.enter_context(meter.accept()[0])
            uart.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each write goes out at once, as on a wire
            wait_until(lambda: fw.status()["mqtt"]["state"] == "connected", 30, "the firmware's MQTT connection")
            return measure(uart, fw, rec, sample)
        except Exception as e:
            log = "\n".join(fw.output().splitlines()[-12:]) if fw else ""
            sys.exit("bench_firmware: the firmware did not run to the end: %s\n%s" % (str(e).strip(), log))


def report(r):
    lat, (early, late) = r["latency_ms"], r["heap"]
    print("Firmware on the unix port (-X heapsize=%s, lib as .mpy), Kaifa list 1 and 2 frames from %s" % (r["heapsize"], r["corpus"]))
    figures = "median %(median).1f ms, p90 %(p90).1f ms, max %(max).1f ms" % lat if lat["median"] is not None else "no figure"
    print("  latency last byte -> broker      %s (%d frames)" % (figures, lat["frames"]))
    print("  heap in use after gc.collect()   {:,} bytes after {} frames, {:,} after {} (free {:,}, then {:,})".format(
        early["heap_alloc"], early["frames"], late["heap_alloc"], late["frames"], early["heap_free"], late["heap_free"]))
    if lat["lost"] or r["messages_received"] != r["frames_sent"] or late["decoded"] != late["frames"]:
        print("WARNING: %d frames sent, %d decoded, %d power messages received, %d timed frames lost" % (
            r["frames_sent"], late["decoded"], r["messages_received"], lat["lost"]))


BUDGET_HEAP = "96K"  # host_tests/test_heap_budget32.py's
BUDGET_S = 15  # seconds of four page clients, before and after the heap is cut into 2 KB runs
X64_HEAP = "256K"  # the unix port's heap cannot grow: room enough to see its figure, not a budget


def budget32(romfs=False, accounting="off"):
    # the guard test's scenario, with the per-module figures of the start; romfs: lib from a ROMFS image
    # (no cut: the largest allocation is the same wherever the code lives)
    if harness32.missing(romfs):
        return {"skipped": harness32.missing(romfs)}
    with tempfile.TemporaryDirectory() as tmp:
        r = harness32.budget_run(tmp, heapsize=BUDGET_HEAP, seconds=BUDGET_S, largest=None if romfs else 2048, romfs=romfs,
                                 accounting=accounting)
    stages = [line.split()[-2:] for line in r.pop("log").splitlines() if line.startswith("mpy32: heap after ")]
    base = r["baseline"]
    in_use = sorted(x - base for x in r.pop("in_use"))
    r.update(steady=in_use[len(in_use) // 2], peak=in_use[-1], failed=len(r["failed"]),
             modules=[(name, int(n) - base) for name, n in stages], grew=len(r["grew"]), grew_full=len(r["grew_full"]),
             grew_serving=len(r["grew_serving"]))
    return r


def budget64():
    # the same scenario on the unix port: the heap in use after the firmware's own gc.collect() each second
    with tempfile.TemporaryDirectory() as tmp:
        capture = harness32.budget_capture(os.path.join(tmp, "hourly.hanlog"))
        replay = Replay(capture, speed=40)
        fw = clients = None
        try:
            fw = Firmware(tmp, {"mqtt": {"host": "127.0.0.1", "port": free_port()}, "meter": {"serial": "kaifa"}}, replay.port,
                          heapsize=X64_HEAP, compiled=True)
            wait_until(lambda: fw.status()["mqtt"]["energy_queued"] >= harness32.QUEUE_FULL, 120, "the energy queue to fill")
            clients = harness32.PageClients(fw.http_port)
            time.sleep(BUDGET_S)
            clients.stop()
            s = fw.status()
            in_use = sorted(clients.heap_alloc)
            return {"heapsize": X64_HEAP, "steady": in_use[len(in_use) // 2], "peak": in_use[-1], "requests": clients.ok,
                    "failed": len(clients.failed), "queued": s["mqtt"]["energy_queued"], "loop_errors": s["loop_errors"]}
        finally:
            if clients:
                clients.stop()
            if fw:
                fw.kill()
            replay.stop()


def report_budget(b32, b64, romfs=()):
    print("Heap budget: energy queue full (%d), four clients reading / and /api/status, lib as .mpy" % harness32.QUEUE_FULL)
    if "skipped" in b32:
        print("  32-bit runtime skipped: " + b32["skipped"])
    else:
        print("  32-bit, lib from files (WebAssembly MicroPython 1.27, -X heapsize=%s; the stand-ins' %s bytes taken off):" % (
            b32["heapsize"], "{:,}".format(b32["baseline"])))
        print("    heap in use after gc.collect()  steady {:,} bytes, peak {:,}".format(b32["steady"], b32["peak"]))
        print("    largest allocation serving      %s" % ("at most 2 KB" if not b32["grew_serving"] else "OVER 2 KB"))
        print("    heap grew (MemoryError on a fixed heap)  %s" % ("no" if not b32["grew"] else "yes, %d times" % b32["grew"]))
        print("    requests %d, failed %d, loop errors %d" % (b32["requests"], b32["failed"], b32["loop_errors"]))
        previous = 0
        parts = []
        for name, n in b32["modules"]:
            if n - previous >= 100:
                parts.append("%s %.1f" % (name, (n - previous) / 1024))
            previous = n
        print("    start, KB added per step: " + ", ".join(parts))
    for label, r in romfs:
        if "skipped" in r:
            print("  32-bit, lib from ROMFS, %s: skipped: %s" % (label, r["skipped"]))
            continue
        print("  32-bit, lib from ROMFS, %s (WebAssembly MicroPython 1.29, -X heapsize=%s):" % (label, r["heapsize"]))
        print("    heap in use after gc.collect()  steady {:,} bytes, peak {:,}".format(r["steady"], r["peak"]))
        print("    heap grew (MemoryError on a fixed heap)  %s" % (
            "no" if not r["grew"] else "%d times, %d once the queue was full" % (r["grew"], r["grew_full"])))
        print("    requests %d, failed %d, loop errors %d" % (r["requests"], r["failed"], r["loop_errors"]))
    print("  x64 (unix port, -X heapsize=%s):" % b64["heapsize"])
    print("    heap in use after gc.collect()  steady {:,} bytes, peak {:,}".format(b64["steady"], b64["peak"]))
    print("    requests %d, failed %d, loop errors %d" % (b64["requests"], b64["failed"], b64["loop_errors"]))


if __name__ == "__main__":
    result = run()
    report(result)
    result["budget32"] = budget32()
    result["budget32_romfs"] = budget32(romfs=True)
    result["budget32_romfs_accounting"] = budget32(romfs=True, accounting="auto")
    result["budget64"] = budget64()
    report_budget(result["budget32"], result["budget64"], (("accounting off", result["budget32_romfs"]),
                                                           ("accounting on (auto)", result["budget32_romfs_accounting"])))
    if "--json" in sys.argv[1:]:
        print(json.dumps(result))
