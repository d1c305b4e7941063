# diagnosis.py Provides diagnose(): what is wrong, in plain words, from the counters, for the page and /api/status.
# MIT license

from micropython import const

_GRACE_S = const(30)  # list 2 comes every 10 s: before 30 s, "no data yet" is no fault
_STALE_S = const(60)  # no good frame for this long after some came: the meter or the wiring went quiet

OK = "ok"
WAITING = "waiting"
NO_BYTES = "no_bytes"
NO_VALID_FRAMES = "no_valid_frames"
UNKNOWN_LAYOUT = "unknown_layout"
ENCRYPTED = "encrypted"
WRONG_KEY = "wrong_key"
STALE = "stale"


def diagnose(uptime_s, bytes_in, frames_ok, decoded, unknown, encrypted, unknown_list, frame_age_s, serial, rx_pin, grace_s=_GRACE_S,
             wrong_key=0):
    # -> (code, message). serial: {"setting", "framing", "settled"} as in the status. encrypted: frames
    # dropped for want of a key (meter.key); wrong_key: frames the key set does not open (dlms.py)
    if decoded and frame_age_s is not None and frame_age_s > _STALE_S:
        return STALE, ("No valid frame for %d s, after %d decoded. The meter stopped sending or the cable came loose: "
                       "check the RJ45 plug and the adapter's wires." % (frame_age_s, decoded))
    if decoded:
        return OK, "All well: %d messages decoded, the last one %d s ago." % (decoded, frame_age_s or 0)
    if uptime_s < grace_s and not frames_ok:
        return WAITING, "Started %d s ago: waiting for the meter's first message (they come every 2 to 10 s)." % uptime_s
    if not bytes_in:
        return NO_BYTES, ("No bytes from the meter at all. Either the grid company has not opened the HAN port yet "
                          "(ask them to open it; it is free), or the adapter is not connected: check the RJ45 cable "
                          "and that the adapter's output goes to RX pin %s." % rx_pin)
    if not frames_ok:
        return NO_VALID_FRAMES, "Bytes arrive but no frame passes its checksum. " + _serial_hint(serial)
    if wrong_key and not unknown:
        return WRONG_KEY, ("The meter sends encrypted frames and the key set does not open them (%d so far): check "
                           "meter.key (and meter.auth_key) against the keys the grid company gave for this meter." % wrong_key)
    if encrypted and not unknown:
        return ENCRYPTED, ("The meter sends encrypted frames (%d so far) and no key is set: ask the grid company for the "
                           "HAN port's encryption key (and authentication key), and set meter.key (and meter.auth_key)." % encrypted)
    return UNKNOWN_LAYOUT, ("Frames arrive intact, but their layout is unknown (list id %s). Please record a capture "
                            "with tools/capture.py and attach it to an issue so the layout can be added." % (unknown_list or "none"))


def _serial_hint(serial):
    if serial["setting"] == "auto":
        return ("Automatic detection has tried 2400 8E1 and 2400 8N1 (HDLC and M-Bus frames) and 115200 8N1 (P1), each "
                "inverted as well. Check the adapter's wires (for a P1 port: Data Request held high, and a pull-up on the "
                "data line) and that the meter sends at 2400 or 115200 baud.")
    if serial["setting"] == "p1":
        return ("The serial setting is %s (P1). Check that Data Request is held high and the data line has its pull-up, "
                "and p1.invert_rx in the board profile; meters on an RJ45 M-Bus port send at 2400 baud: set "
                "meter.serial to \"auto\"." % serial["framing"])
    other = "8N1" if serial["framing"].endswith("8E1") else "8E1"
    return ("The serial setting is %s; most likely it should be 2400 %s (Aidon, Kaifa and Landis+Gyr send 8E1, "
            "Kamstrup 8N1): set meter.serial to \"auto\" or to your meter's make. If that does not help, "
            "the adapter's output may be inverted (invert_rx in the board profile)." % (serial["framing"], other))


def frame_counts(app):
    # the status's "frames" from the app's readers (lib/framers.py), one shape for every kind: an M-Bus checksum or a P1 CRC is the frame's check (bad_fcs)
    if app.protocol == "mbus":
        m = app.long_frames
        return {"ok": m.frames_ok, "bad_hcs": 0, "bad_fcs": m.bad_checksum, "oversize": m.oversize, "skipped_bytes": m.skipped,
                "bad_sequence": m.bad_sequence}
    if app.protocol == "p1":
        t = app.p1
        return {"ok": t.frames_ok, "bad_hcs": 0, "bad_fcs": t.bad_crc, "oversize": 0, "skipped_bytes": t.skipped, "cut": t.cut}
    a = app.assembler
    return {"ok": app.frames_ok(), "bad_hcs": a.bad_hcs, "bad_fcs": a.bad_fcs, "oversize": a.oversize, "skipped_bytes": a.skipped}
