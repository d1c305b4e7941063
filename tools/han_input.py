# han_input.py Provides reading a HAN capture as it arrives: hanlog, raw bytes or hex text, from a file or stdin.
# For tools/han_decode.py; runs under CPython and the MicroPython unix port. A piece at a time, so a
# serial port that never ends is decoded as it goes, and a capture of any size fits a small heap.
# A malformed hanlog line or hex digit is named (line, column) and skipped; the rest is read.

import os
import sys

from hanlog import check_record

_CHUNK = 16384  # the most read at once: a capture of any length fits the unix port's heap
_MAX_LINE = 32768  # a longer hanlog line is named and skipped (capture.py writes under 1000 characters)
_SHOWN = 20  # problems printed as they are found; the rest are counted at the end
_WHITE = b" \t\r\n\x0b\x0c"
_HEX = b"0123456789abcdefABCDEF"
_MPY = sys.implementation.name == "micropython"


class Input:
    # FILE or stdin, read as it arrives: read() gives what is there now (waiting for at least one
    # byte), b"" at the end. A serial port or pipe never ends, so nothing waits for the end.
    def __init__(self, path, fail):
        self._fail = fail  # fail(message): says it and exits
        self.name = "stdin" if path is None or path == "-" else path
        try:
            self._f = sys.stdin.buffer if self.name == "stdin" else open(path, "rb")
            mode = os.stat("/dev/stdin" if self.name == "stdin" else path)[0]
        except OSError as e:
            if self.name != "stdin":
                fail("cannot read %s: %s" % (path, e))
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
            self._fail("cannot read %s: %s" % (self.name, e))

    def _available(self):
        # MicroPython's read(n) waits for all n bytes, and it has no read1: take byte by byte
        # what poll says is there, so a frame is decoded when its last byte arrives
        out = bytearray()
        while len(out) < _CHUNK and (not out or self._poll.poll(0)):
            if not self._f.readinto(self._byte):
                break
            out.append(self._byte[0])
        return bytes(out)


class Problems:
    # what is wrong with the input and where, printed as found; the rest of the input is still read
    def __init__(self, prog, name):
        self.prog, self.name, self.count = prog, name, 0

    def add(self, where, message):
        self.count += 1
        if self.count <= _SHOWN:
            sys.stderr.write("%s: %s %s: %s\n" % (self.prog, self.name, where, message))

    def summary(self):
        if self.count > _SHOWN:
            sys.stderr.write("%s: %d more problems in %s not shown\n" % (self.prog, self.count - _SHOWN, self.name))


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


def sniff(src):
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


def hanlog(src, seen, feed, problems):
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
        ends = [i for i in (chunk.find(b) for b in (b"\n", b"\r", b"\x0b", b"\x0c")) if i >= 0]
        if ends:  # what follows the first line break (\r\n is one; a \n next time is a blank line)
            i = min(ends)
            return chunk[i + 2 if chunk[i : i + 2] == b"\r\n" else i + 1 :]


def _line(number, line, last, feed, problems):
    # one hanlog line: its bytes to feed; -> the time of the last record
    where = "line %d" % number
    if len(line) > _MAX_LINE:  # the same whether it came in one piece or many
        problems.add(where, "longer than %d characters; skipped" % _MAX_LINE)
        return last
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


def hex_text(src, feed, problems):
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
    end_line = line + chunk.count(b"\n")
    end_column = len(chunk) - chunk.rfind(b"\n") - 1 if b"\n" in chunk else column + len(chunk)
    if not digits:  # whitespace only: a digit waiting for its pair goes on waiting
        return b"", pending, end_line, end_column
    if pending is not None:
        digits = bytes([pending[0]]) + digits
    keep = None
    if len(digits) % 2:
        keep, digits = digits[-1], digits[:-1]
    try:
        data = bytes.fromhex(str(digits, "ascii"))
    except (ValueError, UnicodeError):
        return None
    if keep is not None:
        i = len(chunk) - 1
        while chunk[i] in _WHITE:
            i -= 1  # the last digit; only whitespace follows it
        before = chunk[:i]
        at_line = line + before.count(b"\n")
        at_column = i - before.rfind(b"\n") if b"\n" in before else column + i + 1
        keep = (keep, at_line, at_column)
    return data, keep, end_line, end_column
