# framers.py Provides use() and choose(): which frame readers (HDLC, M-Bus, P1) the app feeds, and found(): the kind that passed.
# MIT license
#
# Needed when the serial setting or what it found changes: lib/app.py imports it
# for the call and drops it again (its code then takes no RAM).

import gc
import sys

from serial_port import P1_BAUD, text

NAMES = {"hdlc": "HDLC", "mbus": "M-Bus", "p1": "P1"}


def protocol(setting):
    # the kind of frame a fixed meter.serial reads (a maker's name: HDLC); None: "auto" finds it from the bytes
    return None if setting == "auto" else setting if setting in ("mbus", "p1") else "hdlc"


def use(app, setting):
    # the readers for a meter.serial setting: at the start, when the setting changes, and when "auto" moves on
    app.protocol = protocol(setting)
    choose(app)


def choose(app):
    # Until a frame passes, the bytes go to each kind that can come at the line setting in use (HDLC
    # and M-Bus at 2400 baud, P1 as well at 115200); then to that kind alone. The others' code and
    # buffers are dropped (sys.modules too), so a settled dongle holds one reader.
    kind = app.protocol
    if kind in (None, "mbus"):
        if app.long_frames is None:
            app.long_frames = __import__("mbus").Assembler(app.decoder.apdu)
    else:
        app.long_frames = None
        sys.modules.pop("mbus", None)
    if kind == "p1" or kind is None and app.serial.line[0] == P1_BAUD:
        if app.p1 is None:
            app.p1 = __import__("p1").Decoder(app.on_reading)
    else:
        app.p1 = None
        sys.modules.pop("p1", None)
    hdlc = app.assembler if kind in (None, "hdlc") else None
    app.framers = tuple(f for f in (hdlc, app.long_frames, app.p1) if f is not None)
    gc.collect()


def found(app):
    # on "auto", once some frame has passed: keep its kind alone, and say so
    for kind, f in (("hdlc", app.assembler), ("mbus", app.long_frames), ("p1", app.p1)):
        if f is not None and f.frames_ok:
            app.protocol = kind
            choose(app)
            app.log("serial: %s frames at %s" % (NAMES[kind], text(app.serial.line)))
            return
