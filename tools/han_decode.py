# han_decode.py Provides a PC command that decodes a HAN byte stream into one JSON object per message.
# Runs under CPython and under the MicroPython unix port, with the firmware's own lib/ modules.
#
#   python3 tools/han_decode.py [--hex] [--kamstrup-energy-wh] [--hours] [--key HEX [--auth-key HEX]] [FILE]
#
# Reads a capture from FILE or stdin as it arrives (a serial port never ends), a piece at a time:
# a hanlog file (docs/capture-format.md; recognised by its first line, the bytes of its records are
# decoded in order), raw bytes, or hex text with --hex (whitespace ignored). Prints one JSON object
# per decoded message on stdout as it is decoded; the counters go to stderr at the end. A malformed
# hanlog line or hex digit is named on stderr (line, column) and skipped. Exit status: 0; 1 when the
# input cannot be read, something was skipped as malformed, or an option is wrong.
# HDLC frames (Norwegian meters), M-Bus long frames (AT, PL: "68 L L 68" ... "16") and DSMR P1
# telegrams (SE, DK, NL, BE: "/" ... "!CRC") are told apart by the bytes: all three read the stream
# until one of them finds a frame whose checksum matches, and from then on that one alone. The
# JSON schema is in docs/decoder.md.
# With --hours it prints the energy accounting instead (lib/ledger.py, docs/accounting.md): one
# object per completed clock hour, and one per month.

import sys

_ROOT = (__file__.rsplit("/", 1)[0] if "/" in __file__ else ".") + "/.."
sys.path.insert(0, _ROOT + "/lib")
if sys.implementation.name != "micropython":
    sys.path.append(_ROOT + "/host_tests/shims")  # micropython.const for CPython

from hdlc import Assembler  # noqa: E402
import mbus  # noqa: E402
from dlms import Decoder  # noqa: E402
import p1  # noqa: E402
from han_input import Input, Problems, sniff, hanlog, hex_text  # noqa: E402  (beside this file)

_USAGE = """usage: han_decode.py [--hex] [--kamstrup-energy-wh] [--hours] [--key HEX [--auth-key HEX]] [FILE]

Decode a HAN port capture (HDLC or M-Bus frames with DLMS data-notifications, or DSMR P1
telegrams, recognised from the bytes) into JSON lines.
  FILE                  capture to read; stdin when absent or '-'. A hanlog file (as written by
                        tools/capture.py, see docs/capture-format.md) is recognised by itself and
                        the bytes of its records are decoded in order; anything else is raw bytes
  --hex                 the input is hex text (whitespace ignored), not raw bytes or hanlog
  --kamstrup-energy-wh  Kamstrup energy registers (HDLC) count Wh (Swedish meters), not 10 Wh
  --hours               print the clock hours of import and export from the registers instead,
                        each as soon as it is known, and the month's capacity peaks after each
                        month and at the end (docs/accounting.md)
  --key HEX             encrypted meters (general-glo-ciphering): the AES-128 key, 32 hex digits
  --auth-key HEX        and the authentication key: each frame's tag is checked, and a frame
                        whose tag is wrong is counted (wrong_key=) and dropped
"""


def _fail(message):
    sys.stderr.write("han_decode: %s\n" % message)
    sys.exit(1)


def _arguments(argv):
    options = {"hex": False, "wh": False, "hours": False, "path": None, "key": None, "auth_key": None}
    argv = list(argv)
    while argv:
        a = argv.pop(0)
        if a in ("--key", "--auth-key"):
            options[a[2:].replace("-", "_")] = _key(a, argv.pop(0) if argv else "")
        elif a in ("-h", "--help"):
            sys.stdout.write(_USAGE)
            sys.exit(0)
        elif a == "--hex":
            options["hex"] = True
        elif a == "--kamstrup-energy-wh":
            options["wh"] = True
        elif a == "--hours":
            options["hours"] = True
        elif a.startswith("-") and a != "-":
            _fail("unknown option %s (see --help)" % a)
        elif options["path"] is None:
            options["path"] = a
        else:
            _fail("only one FILE may be given")
    if options["auth_key"] and not options["key"]:
        _fail("--auth-key needs --key too")
    return options


def _key(option, text):
    # 32 hex digits -> 16 bytes
    from binascii import unhexlify

    if len(text) != 32 or any(c not in "0123456789abcdefABCDEF" for c in text):
        _fail("%s needs 32 hex digits (a 16-byte AES key)" % option)
    return unhexlify(text)


def main(argv):
    options = _arguments(argv)
    src = Input(options["path"], _fail)
    problems = Problems("han_decode", src.name)
    ledger = _hours() if options["hours"] else None
    out = ledger.reading if ledger else lambda rd: sys.stdout.write(rd.json() + "\n")
    decoder = Decoder(out, kamstrup_energy_in_wh=options["wh"], key=options["key"], auth_key=options["auth_key"])
    assembler = Assembler(decoder.apdu)
    long_frames = mbus.Assembler(decoder.apdu)
    telegrams = p1.Decoder(out)
    kind = [None]  # "hdlc", "mbus" or "p1" once a frame of that kind has passed its checksum

    def feed(chunk):
        if chunk:
            if kind[0] in (None, "hdlc"):
                assembler.feed(chunk, len(chunk))
            if kind[0] in (None, "mbus"):
                long_frames.feed(chunk, len(chunk))
            if kind[0] in (None, "p1"):
                telegrams.feed(chunk, len(chunk))
            if kind[0] is None:
                kind[0] = ("hdlc" if assembler.frames_ok else "mbus" if long_frames.frames_ok else
                           "p1" if telegrams.frames_ok else None)
            _flush()  # each message as it is decoded, also into a pipe

    if options["hex"]:
        hex_text(src, feed, problems)
    else:
        is_hanlog, seen = sniff(src)
        if is_hanlog:
            hanlog(src, seen, feed, problems)
        else:
            chunk = seen
            while chunk:
                feed(chunk)
                chunk = src.read()
    if kind[0] == "p1":
        t = telegrams
        sys.stderr.write("telegrams_ok=%d bad_crc=%d no_crc=%d cut=%d skipped=%d\n" % (t.frames_ok, t.bad_crc, t.no_crc, t.cut, t.skipped))
        _finish(ledger, problems)
        return
    if kind[0] == "mbus":
        a = long_frames
        line = "frames_ok=%d bad_checksum=%d bad_sequence=%d oversize=%d other_ci=%d skipped=%d" % (
            a.frames_ok, a.bad_checksum, a.bad_sequence, a.oversize, a.other_ci, a.skipped)
    else:
        a = assembler
        line = "frames_ok=%d bad_hcs=%d bad_fcs=%d oversize=%d skipped=%d" % (a.frames_ok, a.bad_hcs, a.bad_fcs, a.oversize, a.skipped)
    d = decoder
    line += " decoded=%d malformed=%d unknown=%d encrypted=%d" % (d.decoded, d.malformed, d.unknown, d.encrypted)
    if d.encrypted:
        line += " no_key=%d wrong_key=%d" % (d.no_key, d.wrong_key)
    if d.last_unknown_list_len:
        line += " last_unknown_list=%s" % str(bytes(d.last_unknown_list[: d.last_unknown_list_len]), "ascii")
    sys.stderr.write(line + "\n")
    _finish(ledger, problems)


def _finish(ledger, problems):
    if ledger and ledger.unreported:
        ledger.on_month()  # the month so far
    problems.summary()
    if problems.count:
        sys.exit(1)


def _hours():
    # --hours: a Ledger that prints each completed clock hour and each month's peaks (imported
    # only here: plain decoding keeps the heap it has on a small unix port)
    from ledger import Ledger

    led = Ledger()
    led.on_hour = lambda *h: sys.stdout.write(led.hour_json(*h) + "\n")
    led.on_month = lambda: sys.stdout.write(led.month_json() + "\n")
    return led


def _flush():
    flush = getattr(sys.stdout, "flush", None)
    if flush:
        flush()


main(sys.argv[1:])
