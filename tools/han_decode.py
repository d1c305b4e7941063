# han_decode.py Provides a PC command that decodes a HAN byte stream into one JSON object per message.
# Runs under CPython and under the MicroPython unix port, with the firmware's own lib/ modules.
#
#   python3 tools/han_decode.py [--hex] [--kamstrup-energy-wh] [FILE]
#
# Reads raw bytes (or hex text with --hex, whitespace ignored) from FILE or stdin and prints one
# JSON object per decoded message on stdout, in stream order; the counters go to stderr at the end.
# Exit status: 0, or 1 when the input cannot be read. The JSON schema is in docs/decoder.md.

import sys

_ROOT = (__file__.rsplit("/", 1)[0] if "/" in __file__ else ".") + "/.."
sys.path.insert(0, _ROOT + "/lib")
if sys.implementation.name != "micropython":
    sys.path.append(_ROOT + "/host_tests/shims")  # micropython.const for CPython

from hdlc import Assembler  # noqa: E402
from dlms import Decoder  # noqa: E402

_USAGE = """usage: han_decode.py [--hex] [--kamstrup-energy-wh] [FILE]

Decode a HAN port capture (HDLC frames with DLMS data-notifications) into JSON lines.
  FILE                  capture to read; stdin when absent or '-'
  --hex                 the input is hex text (whitespace ignored), not raw bytes
  --kamstrup-energy-wh  Kamstrup energy registers count Wh (Swedish meters), not 10 Wh
"""


def _fail(message):
    sys.stderr.write("han_decode: %s\n" % message)
    sys.exit(1)


def _arguments(argv):
    options = {"hex": False, "wh": False, "path": None}
    for a in argv:
        if a in ("-h", "--help"):
            sys.stdout.write(_USAGE)
            sys.exit(0)
        elif a == "--hex":
            options["hex"] = True
        elif a == "--kamstrup-energy-wh":
            options["wh"] = True
        elif a.startswith("-") and a != "-":
            _fail("unknown option %s (see --help)" % a)
        elif options["path"] is None:
            options["path"] = a
        else:
            _fail("only one FILE may be given")
    return options


def _read(path):
    try:
        if path is None or path == "-":
            return sys.stdin.buffer.read()
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        _fail("cannot read %s: %s" % (path or "stdin", e))


def _from_hex(data):
    try:
        return bytes.fromhex("".join(str(data, "utf-8").split()))
    except (ValueError, UnicodeError):
        _fail("input is not hex text; drop --hex for raw bytes")


def main(argv):
    options = _arguments(argv)
    data = _read(options["path"])
    if options["hex"]:
        data = _from_hex(data)
    decoder = Decoder(lambda rd: sys.stdout.write(rd.json() + "\n"), kamstrup_energy_in_wh=options["wh"])
    assembler = Assembler(decoder.apdu)
    assembler.feed(data, len(data))
    a = assembler
    line = "frames_ok=%d bad_hcs=%d bad_fcs=%d oversize=%d skipped=%d" % (a.frames_ok, a.bad_hcs, a.bad_fcs, a.oversize, a.skipped)
    d = decoder
    line += " decoded=%d malformed=%d unknown=%d encrypted=%d" % (d.decoded, d.malformed, d.unknown, d.encrypted)
    if d.last_unknown_list_len:
        line += " last_unknown_list=%s" % str(bytes(d.last_unknown_list[: d.last_unknown_list_len]), "ascii")
    sys.stderr.write(line + "\n")


main(sys.argv[1:])
