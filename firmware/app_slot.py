# app_slot.py Provides the app slots: which app directory runs (a pointer file switched by one atomic rename), the trial of a new one, and going back.
# MIT license
#
# The app (lib/ compiled) lives in one of three directories: "lib" (what `make deploy` copied) and
# "app_a", "app_b" (what updates wrote, lib/updater.py). The pointer file active_app.txt names the
# one to run:  "<active> <previous> <state> <starts>\n<note>\nend\n"; state is "ok" or "trial", and
# starts counts the starts of an app on trial. No pointer: "lib". The pointer is never changed in
# place: the new one is written whole to active_app.tmp and renamed over it, so a power cut leaves
# the old pointer or the new one; at boot a temp file with its "end" line is renamed (the cut came
# just before, or on FAT halfway through, the rename), one without it is removed.
#
# This file is not part of an app: `make deploy` copies it beside main.py, and an update never
# changes it, so an app that cannot even be imported is still taken back. main.py calls boot()
# before anything of lib/ is imported (and boot() drops this module again): an app on trial that has started _STARTS times without
# proving itself (it crashed, hung, or never got to its proof) goes back to the previous app here.
# The running app calls commit() once it has proved itself, or rollback() when its time is up
# (lib/app.py); lib/updater.py calls switch() when a new app is written and checked.
import os
import sys

_PTR = "active_app.txt"
_TMP = "active_app.tmp"
_FAILED = "failed_boots"  # boot_guard's count: the app gone back to gets fresh tries
_STARTS = 2  # starts an app on trial gets; the next start runs the previous app
SLOTS = ("lib", "app_a", "app_b")


def read():
    # [active, previous, state, starts, note]
    try:
        with open(_PTR) as f:
            head = f.readline().split()
            note = f.readline().rstrip("\n")
            if f.readline() == "end\n" and len(head) == 4 and head[0] in SLOTS and head[1] in SLOTS:
                return [head[0], head[1], head[2], int(head[3]), note]
    except (OSError, ValueError):
        pass
    return ["lib", "lib", "ok", 0, ""]  # no pointer (or one that cannot be read: never written whole by us)


def write(active, previous, state, starts, note="", pause=False):
    # the one atomic switch: the whole pointer to the temp file, then one rename over the old one
    with open(_TMP, "w") as f:
        f.write("%s %s %s %d\n%s\nend\n" % (active, previous, state, starts, note.replace("\n", " ")[:200]))
    if pause and _env("HAN_SLOT_PAUSE"):  # test hook: a power cut between the two (the tests SIGKILL here)
        print("app_slot: paused before the rename")
        import time

        time.sleep(60)
    os.rename(_TMP, _PTR)


def _env(name):
    getenv = getattr(os, "getenv", None)  # the unix port; the ESP32 has no environment
    return getenv(name) if getenv else None


def target(p=None):
    # the directory an update writes into: never the running app, nor the one it could go back to
    p = p or read()
    return "app_b" if p[0] == "app_a" else "app_a"


def switch(new, version):
    # a new app, written and checked, runs on trial from the next start; the running one is kept
    p = read()
    write(new, p[0], "trial", 0, "update to %s: on trial from the next start" % version, True)


def commit(note):
    p = read()
    if p[2] == "trial":
        write(p[0], p[1], "ok", 0, note)


def rollback(why):
    # back to the previous app from the next start; the failed one stays on flash (overwritten by the next update)
    p = read()
    if p[2] == "trial":
        write(p[1], p[0], "ok", 0, "rolled back from %s to %s: %s" % (p[0], p[1], why))
        try:
            os.remove(_FAILED)
        except OSError:
            pass


def _finish_switch():
    # a temp pointer left by a power cut: complete (ends with "end") -> rename it, else remove it
    try:
        with open(_TMP) as f:
            whole = f.read(400).endswith("\nend\n")
    except OSError:
        return
    if whole:
        os.rename(_TMP, _PTR)
    else:
        os.remove(_TMP)


def boot():
    # at every start, before lib/ is imported: finish a cut switch, count a trial start or give up on
    # it, and put the active app's directory first on sys.path. Never raises: lib/ runs then
    try:
        _boot()
    except Exception as e:  # a flash error: the app the path names (lib/ unless the switch was made) runs
        print("boot: app slot: %r" % e)
    sys.modules.pop("app_slot", None)  # main.py keeps nothing of this module while the app runs


def _boot():
    _finish_switch()
    p = read()
    if p[2] == "trial":
        if p[3] >= _STARTS:
            rollback("it started %d times without proving itself (crashed, hung or never read the meter)" % p[3])
            p = read()
            print("boot: " + p[4])
        else:
            write(p[0], p[1], "trial", p[3] + 1, p[4])  # counted before it runs: a crash or a power cut counts
            print("boot: %s on trial, start %d of %d" % (p[0], p[3] + 1, _STARTS))
    if p[0] != "lib":
        here = os.getcwd()
        for d in [d for d in sys.path if d == "lib" or d.endswith("/lib")]:
            sys.path.remove(d)  # nothing of the app gone from may shadow or fill in for the active one
        sys.path.insert(0, (here if here != "/" else "") + "/" + p[0])
    if p[2] == "trial":
        try:
            import boot_guard  # noqa: F401  (main.py takes it from sys.modules)
        except Exception as e:  # an app that cannot even be loaded goes back at once
            unloadable(e)


def unloadable(e):
    # the active app cannot even be imported: an update on trial goes back at once (a reset)
    if read()[2] == "trial":
        rollback("it cannot be loaded: %r" % e)
        print("boot: " + read()[4] + "; resetting")
        reset()


def reset():
    try:
        import machine

        machine.reset()
    except (ImportError, AttributeError):
        pass
    sys.exit(3)  # the unix port: end the process, as a reset would
