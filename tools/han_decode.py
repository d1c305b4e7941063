# han_decode.py Provides a PC command that decodes a HAN byte stream into one JSON object per message.
# Runs under CPython and under the MicroPython unix port, with the firmware's own lib/ modules.
#
#   python3 tools/han_decode.py [--hex] [--kamstrup-energy-wh] [FILE]
#
# Reads a capture from FILE or stdin as it arrives (a serial port never ends), a piece at a time:
# a hanlog file (docs/capture-format.md; recognised by its first line, the bytes of its records are
# decoded in order), raw bytes, or hex text with --hex (whitespace ignored). Prints one JSON object
# per decoded message on stdout as it is decoded; the counters go to stderr at the end. A malformed
# hanlog line or hex digit is named on stderr (line, column) and skipped. Exit status: 0; 1 when the
# input cannot be read, something was skipped as malformed, or an option is wrong.
# The JSON schema is in docs/decoder.md.

import os
import sys

_ROOT = (__file__.rsplit("/", 1)[0] if "/" in __file__ else ".") + "/.."
sys.path.insert(0, _ROOT + "/lib")
if sys.implementation.name != "micropython":
    sys.path.append(_ROOT + "/host_tests/shims")  # micropython.const for CPython

from hdlc import Assembler  # noqa: E402
from dlms import Decoder  # noqa: E402
from hanlog import check_record  # noqa: E402  (beside this file: the one hanlog line parser)

_USAGE = """usage: han_decode.py [--hex] [--kamstrup-energy-wh] [FILE]

Decode a HAN port capture (HDLC frames with DLMS data-notifications) into JSON lines.
  FILE                  capture to read; stdin when absent or '-'. A hanlog file (as written by
                        tools/capture.py, see docs/capture-format.md) is recognised by itself and
                        the bytes of its records are decoded in order; anything else is raw bytes
  --hex                 the input is hex text (whitespace ignored), not raw bytes or hanlog
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


_CHUNK = 16384  # the most read at once: a capture of any length fits the unix port's heap
_MAX_LINE = 32768  # a longer hanlog line is named and skipped (capture.py writes under 1000 characters)
_SHOWN = 20  # problems printed as they are found; the rest are counted at the end
_WHITE = b" \t\r\n\x0b\x0c"
_HEX = b"0123456789abcdefABCDEF"
_MPY = sys.implementation.name == "micropython"


class _Input:
    # FILE or stdin, read as it arrives: read() gives what is there now (waiting for at least one
    # byte), b"" at the end. A serial port or pipe never ends, so nothing waits for the end.
    def __init__(self, path):
        self.name = "stdin" if path is None or path == "-" else path
        try:
            self._f = sys.stdin.buffer if self.name == "stdin" else open(path, "rb")
            mode = os.stat("/dev/stdin" if self.name == "stdin" else path)[0]
        except OSError as e:
            if self.name != "stdin":
                _fail("cannot read %s: %s" % (path, e))
            mode = 0
        self._stream = mode & 0o170000 != 0o100000  # a pipe, a tty: not a regular file
        self._poll = None
        if _MPY and self._stream:
            import select

            self._poll = select.poll()
            self._poll.register(self._f, select.POLLIN)
            self._byte = bytearray(1)

    def read(self, lines=False):
        # lines: the input is text, so a line at a time is what is there (writers write whole lines)
        try:
            if not _MPY:
                return self._f.read1(_CHUNK)  # CPython: what one read() of the pipe or port gives
            if not self._stream:
                return self._f.read(_CHUNK)
            if lines:
                return self._f.readline(_CHUNK)
            return self._available()
        except OSError as e:
            _fail("cannot read %s: %s" % (self.name, e))

    def _available(self):
        # MicroPython's read(n) waits for all n bytes, and it has no read1: take byte by byte
        # what poll says is there, so a frame is decoded when its last byte arrives
        out = bytearray()
        while len(out) < _CHUNK and (not out or self._poll.poll(0)):
            if not self._f.readinto(self._byte):
                break
            out.append(self._byte[0])
        return bytes(out)


class _Problems:
    # what is wrong with the input and where, printed as found; the rest of the input is still read
    def __init__(self, name):
        self.name, self.count = name, 0

    def add(self, where, message):
        self.count += 1
        if self.count <= _SHOWN:
            sys.stderr.write("han_decode: %s %s: %s\n" % (self.name, where, message))

    def summary(self):
        if self.count > _SHOWN:
            sys.stderr.write("han_decode: %d more problems in %s not shown\n" % (self.count - _SHOWN, self.name))


def _control(data):
    # a byte below 32 other than whitespace, or DEL: HAN traffic is full of them, text has none
    for b in data:
        if (b < 32 and b not in _WHITE) or b == 127:
            return True
    return False


def _breaks(data, final):
    # data with every line break as b"\n" (\r\n, \r, \v and \f too, as str.splitlines knows them); a
    # \r at the end is held back unless final, as its \n may come in the next piece -> (data, held)
    held = b""
    if data[-1:] == b"\r" and not final:
        data, held = data[:-1], b"\r"
    for b in (b"\r\n", b"\r", b"\x0b", b"\x0c"):
        if b in data:
            data = data.replace(b, b"\n")
    return data, held


def _sniff(src):
    # -> (True for hanlog, the bytes read so far). Hanlog is UTF-8 text without control bytes whose
    # first non-blank line is a comment or a record; a raw capture has control bytes at once
    seen = b""
    while True:
        chunk = src.read()
        seen += chunk
        text, _ = _breaks(seen[3:] if seen[:3] == b"\xef\xbb\xbf" else seen, not chunk)
        lines = text.split(b"\n")
        partial = lines.pop() if chunk else b""  # not complete yet
        for line in lines:
            if _control(line):
                return False, seen
            if line.strip():
                try:
                    line = str(line, "utf-8").strip()
                except UnicodeError:
                    return False, seen
                return line[0] == "#" or check_record(line)[0] is not None, seen
        if not chunk or _control(partial) or len(partial) > _MAX_LINE:
            return False, seen


def _hanlog(src, seen, feed, problems):
    # the records' bytes, in order, as one stream; a bad line is named and skipped
    rest, number, last, chunk = b"", 0, 0.0, seen
    while chunk or rest:
        data, held = _breaks(rest + chunk, not chunk)
        lines = data.split(b"\n")
        rest = held if chunk else b""
        if chunk:
            rest = lines.pop() + held
        for line in lines:
            number += 1
            last = _line(number, line, last, feed, problems)
        if len(rest) > _MAX_LINE:
            number += 1
            problems.add("line %d" % number, "longer than %d characters; skipped" % _MAX_LINE)
            rest = _skip_line(src)
        chunk = src.read(True) if chunk else b""


def _skip_line(src):
    # drops the rest of an overlong line -> what follows its end
    while True:
        chunk = src.read(True)
        if not chunk:
            return b""
        data, _ = _breaks(chunk, True)
        if b"\n" in data:
            return chunk[data.index(b"\n") + 1 :]


def _line(number, line, last, feed, problems):
    # one hanlog line: its bytes to feed; -> the time of the last record
    where = "line %d" % number
    if number == 1 and line[:3] == b"\xef\xbb\xbf":
        line = line[3:]  # a BOM from a Windows editor
    if _control(line):
        problems.add(where, "control bytes: not hanlog text (raw bytes mixed in?); skipped")
        return last
    try:
        text = str(line, "utf-8").strip()
    except UnicodeError:
        problems.add(where, "not UTF-8 text; skipped")
        return last
    if not text or text[0] == "#":
        return last
    record, problem = check_record(text)
    if record is None:
        problems.add(where, problem + "; skipped")
        return last
    if record[0] < last:
        problems.add(where, "time %s is before the previous %s; its bytes are decoded all the same" % (record[0], last))
    feed(record[1])
    return max(last, record[0])


def _hex(src, feed, problems):
    # hex text, whitespace ignored anywhere; a bad character is named and skipped, with a digit
    # left unpaired before it. Piece by piece: one bytes.fromhex where it can, else digit by digit.
    line, column, pending = 1, 0, None  # pending: (digit, line, column) waiting for its pair
    while True:
        chunk = src.read(True)
        if not chunk:
            break
        fast = _hex_fast(chunk, pending, line, column)
        if fast:
            data, pending, line, column = fast
            feed(data)
            continue
        out = bytearray()
        for b in chunk:
            column += 1
            if b == 10:
                line, column = line + 1, 0
            elif b in _WHITE:
                pass
            elif b in _HEX:
                if pending is None:
                    pending = (b, line, column)
                else:
                    out.append(int(chr(pending[0]) + chr(b), 16))
                    pending = None
            else:
                shown = repr(chr(b)) if 32 <= b < 127 else "byte 0x%02x" % b
                dropped = "" if pending is None else " (with the unpaired digit before it)"
                problems.add("line %d column %d" % (line, column), "%s is not a hex digit; skipped%s" % (shown, dropped))
                pending = None
        feed(bytes(out))
    if pending is not None:
        problems.add("line %d column %d" % (pending[1], pending[2]), "odd number of hex digits: %r has no pair; dropped" % chr(pending[0]))


def _hex_fast(chunk, pending, line, column):
    # a piece of good hex text at once -> (bytes, pending, line, column) after it; None when it is not
    digits = b"".join(chunk.split())
    if pending is not None:
        digits = bytes([pending[0]]) + digits
    keep = None
    if len(digits) % 2:
        keep, digits = digits[-1], digits[:-1]
    try:
        data = bytes.fromhex(str(digits, "ascii"))
    except (ValueError, UnicodeError):
        return None
    end_line = line + chunk.count(b"\n")
    end_column = len(chunk) - chunk.rfind(b"\n") - 1 if b"\n" in chunk else column + len(chunk)
    if keep is not None:
        i = len(chunk) - 1
        while chunk[i] in _WHITE:
            i -= 1  # the last digit; only whitespace follows it
        before = chunk[:i]
        at_line = line + before.count(b"\n")
        at_column = i - before.rfind(b"\n") if b"\n" in before else column + i + 1
        keep = (keep, at_line, at_column)
    return data, keep, end_line, end_column


def main(argv):
    options = _arguments(argv)
    src = _Input(options["path"])
    problems = _Problems(src.name)
    decoder = Decoder(lambda rd: sys.stdout.write(rd.json() + "\n"), kamstrup_energy_in_wh=options["wh"])
    assembler = Assembler(decoder.apdu)

    def feed(chunk):
        if chunk:
            assembler.feed(chunk, len(chunk))
            _flush()  # each message as it is decoded, also into a pipe

    if options["hex"]:
        _hex(src, feed, problems)
    else:
        hanlog, seen = _sniff(src)
        if hanlog:
            _hanlog(src, seen, feed, problems)
        else:
            chunk = seen
            while chunk:
                feed(chunk)
                chunk = src.read()
    a = assembler
    line = "frames_ok=%d bad_hcs=%d bad_fcs=%d oversize=%d skipped=%d" % (a.frames_ok, a.bad_hcs, a.bad_fcs, a.oversize, a.skipped)
    d = decoder
    line += " decoded=%d malformed=%d unknown=%d encrypted=%d" % (d.decoded, d.malformed, d.unknown, d.encrypted)
    if d.last_unknown_list_len:
        line += " last_unknown_list=%s" % str(bytes(d.last_unknown_list[: d.last_unknown_list_len]), "ascii")
    sys.stderr.write(line + "\n")
    problems.summary()
    if problems.count:
        sys.exit(1)


def _flush():
    flush = getattr(sys.stdout, "flush", None)
    if flush:
        flush()


main(sys.argv[1:])
