# han_decode.py Provides a PC command that decodes a HAN byte stream into one JSON object per message.
# Runs under CPython and under the MicroPython unix port, with the firmware's own lib/ modules.
#
#   python3 tools/han_decode.py [--hex] [--kamstrup-energy-wh] [--hours] [FILE]
#
# Reads a capture from FILE or stdin: a hanlog file (docs/capture-format.md; recognised by itself,
# the bytes of its records are decoded in order), raw bytes, or hex text with --hex (whitespace
# ignored). Prints one JSON object per decoded message on stdout, in stream order; the counters go
# to stderr at the end. Exit status: 0, or 1 when the input cannot be read or a hanlog line is
# malformed. The JSON schema is in docs/decoder.md. With --hours it prints the energy accounting
# instead (lib/ledger.py, docs/accounting.md): one object per completed clock hour, and one per month.

import os
import sys

_ROOT = (__file__.rsplit("/", 1)[0] if "/" in __file__ else ".") + "/.."
sys.path.insert(0, _ROOT + "/lib")
if sys.implementation.name != "micropython":
    sys.path.append(_ROOT + "/host_tests/shims")  # micropython.const for CPython

from hdlc import Assembler  # noqa: E402
from dlms import Decoder  # noqa: E402
from hanlog import parse_record  # noqa: E402  (beside this file: the one hanlog line parser)
from ledger import Ledger  # noqa: E402

_USAGE = """usage: han_decode.py [--hex] [--kamstrup-energy-wh] [--hours] [FILE]

Decode a HAN port capture (HDLC frames with DLMS data-notifications) into JSON lines.
  FILE                  capture to read; stdin when absent or '-'. A hanlog file (as written by
                        tools/capture.py, see docs/capture-format.md) is recognised by itself and
                        the bytes of its records are decoded in order; anything else is raw bytes
  --hex                 the input is hex text (whitespace ignored), not raw bytes or hanlog
  --kamstrup-energy-wh  Kamstrup energy registers count Wh (Swedish meters), not 10 Wh
  --hours               print the clock hours of import and export from the registers instead,
                        each as soon as it is known, and the month's capacity peaks after each
                        month and at the end (docs/accounting.md)
"""


def _fail(message):
    sys.stderr.write("han_decode: %s\n" % message)
    sys.exit(1)


def _arguments(argv):
    options = {"hex": False, "wh": False, "hours": False, "path": None}
    for a in argv:
        if a in ("-h", "--help"):
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
    return options


_CHUNK = 16384  # files are read in pieces of this size, so a long capture fits the unix port's heap


def _stdin(path):
    return path is None or path == "-"


def _regular(path):
    # a file that can be read twice (not a pipe or a device); its size is no concern then
    try:
        return os.stat(path)[0] & 0o170000 == 0o100000
    except OSError:
        return False  # _read names the problem


def _read(path):
    try:
        if _stdin(path):
            return sys.stdin.buffer.read()
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        _fail("cannot read %s: %s" % (path or "stdin", e))


def _chunks(path, data):
    # the input in pieces: from data when it has been read already (stdin), else from the file, afresh
    if data is not None:
        for i in range(0, len(data), _CHUNK):
            yield data[i : i + _CHUNK]
        return
    try:
        f = open(path, "rb")
    except OSError as e:
        _fail("cannot read %s: %s" % (path, e))
    try:
        while True:
            try:
                chunk = f.read(_CHUNK)
            except OSError as e:
                _fail("cannot read %s: %s" % (path, e))
            if not chunk:
                return
            yield chunk
    finally:
        f.close()


def _from_hex(data):
    try:
        return bytes.fromhex("".join(str(data, "utf-8").split()))
    except (ValueError, UnicodeError):
        _fail("input is not hex text; drop --hex for raw bytes")


# hanlog (docs/capture-format.md), read as tools/hanlog.py reads it, with what both runtimes have
_CONTROL = [bytes([b]) for b in range(32) if b not in b"\t\n\r\x0b\x0c"] + [b"\x7f"]
_BREAKS = (b"\r", b"\x0b", b"\x0c")  # line breaks besides \n and \r\n, as str.splitlines knows them


def _split(line):
    if line[-1:] == b"\r":
        line = line[:-1]
    for b in _BREAKS:
        if b in line:
            for b in _BREAKS:
                line = line.replace(b, b"\n")
            return line.split(b"\n")
    return (line,)


def _lines(chunks, control):
    # the lines of the input (bytes); appends to control when a chunk holds a control byte
    rest = b""
    for chunk in chunks:
        if not control:
            for c in _CONTROL:
                if c in chunk:
                    control.append(c)
                    break
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            for part in _split(line):
                yield part
    if rest:
        for part in _split(rest):
            yield part


def _hanlog(path, data, feed=None):
    # Without feed: True when the input is a hanlog file, False for raw bytes; a hanlog file with a
    # malformed line is an error naming the line. Hanlog is UTF-8 text without control bytes whose
    # first non-blank line is a comment or a record; HAN traffic is full of control bytes, so a raw
    # capture never passes. With feed: feed(bytes) for each record, in order.
    control, number, last, seen = [], 0, 0.0, False
    for line in _lines(_chunks(path, data), control):
        if control:
            return False
        number += 1
        if number == 1 and line[:3] == b"\xef\xbb\xbf":
            line = line[3:]  # a BOM from a Windows editor
        try:
            text = str(line, "utf-8").strip()
        except UnicodeError:
            return False
        if not text:
            continue
        record = None if text[0] == "#" else parse_record(text)
        if not seen:
            seen = True
            if text[0] != "#" and record is None:
                return False
        if text[0] == "#":
            continue
        where = "%s line %d" % ("stdin" if _stdin(path) else path, number)
        if record is None:
            _fail("%s: expected '<seconds> <hex bytes>', got %r" % (where, text[:60]))
        if record[0] < last:
            _fail("%s: time %s is before the previous %s" % (where, record[0], last))
        last = record[0]
        if feed is not None:
            feed(record[1])
    return seen and not control


def main(argv):
    options = _arguments(argv)
    path = options["path"]
    # a regular file is read in pieces, twice (is it hanlog? then its records); the rest at once
    data = None if not options["hex"] and not _stdin(path) and _regular(path) else _read(path)
    if options["hex"]:
        data = _from_hex(data)
    ledger = _hours() if options["hours"] else None
    out = ledger.reading if ledger else lambda rd: sys.stdout.write(rd.json() + "\n")
    decoder = Decoder(out, kamstrup_energy_in_wh=options["wh"])
    assembler = Assembler(decoder.apdu)

    def feed(chunk):
        assembler.feed(chunk, len(chunk))

    if options["hex"]:
        feed(data)
    elif _hanlog(path, data):
        _hanlog(path, data, feed)  # the bytes of its records, in order, as one stream
    else:
        for chunk in _chunks(path, data):
            feed(chunk)
    a = assembler
    line = "frames_ok=%d bad_hcs=%d bad_fcs=%d oversize=%d skipped=%d" % (a.frames_ok, a.bad_hcs, a.bad_fcs, a.oversize, a.skipped)
    d = decoder
    line += " decoded=%d malformed=%d unknown=%d encrypted=%d" % (d.decoded, d.malformed, d.unknown, d.encrypted)
    if d.last_unknown_list_len:
        line += " last_unknown_list=%s" % str(bytes(d.last_unknown_list[: d.last_unknown_list_len]), "ascii")
    sys.stderr.write(line + "\n")
    if ledger and ledger.unreported:
        ledger.on_month()  # the month so far


def _hours():
    # --hours: a Ledger that prints each completed clock hour and each month's peaks
    led = Ledger()
    led.on_hour = lambda *h: sys.stdout.write(led.hour_json(*h) + "\n")
    led.on_month = lambda: sys.stdout.write(led.month_json() + "\n")
    return led


main(sys.argv[1:])
