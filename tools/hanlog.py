# hanlog.py Provides reading and writing of HAN captures: hanlog text, or raw bytes paced at 2400 baud.
# The format is described in docs/capture-format.md. PC side; parse_record() also runs on MicroPython
# (tools/han_decode.py uses it there).

import os

BYTES_PER_SECOND = 240  # 2400 baud, 10 bits a byte: how fast the meter's bytes arrive


def parse_record(line):
    # "12.500 7ea0..7e" -> (12.5, bytes), or None when the line is not of that form
    return check_record(line)[0]


def check_record(line):
    # -> ((seconds, bytes), None) for a good record line, or (None, what is wrong with it)
    parts = line.split(None, 1)
    if len(parts) != 2:
        return None, "expected '<seconds> <hex bytes>', got %r" % line.strip()[:60]
    try:
        seconds = float(parts[0])
    except ValueError:
        return None, "the time %r is not a number of seconds" % parts[0][:20]
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return None, "the time %r is not 0 or more seconds" % parts[0][:20]
    try:
        return (seconds, bytes.fromhex(parts[1])), None  # whitespace between byte pairs is allowed
    except ValueError:
        return None, hex_problem(parts[1], line.find(parts[1]))


def hex_problem(text, column=0):
    # what is wrong with hex text that bytes.fromhex refused: the first bad character (its column
    # counted from the start of the line, where text begins at column + 1), or the count
    digits = 0
    for i, c in enumerate(text):
        if c in "0123456789abcdefABCDEF":
            digits += 1
        elif c not in " \t\r\n\x0b\x0c":
            return "%r at column %d is not a hex digit" % (c, column + i + 1)
        elif digits % 2:
            return "a space splits the byte at column %d" % (column + i + 1)
    return "odd number of hex digits (%d): a byte is missing a digit" % digits


def _text_of(raw):
    # the text of a hanlog file, or None for raw bytes. Hanlog is UTF-8 without control bytes, and
    # starts with a comment or a record that parses; a HAN byte stream is full of control bytes.
    if any((b < 32 and b not in b"\t\n\r\x0b\x0c") or b == 127 for b in raw):
        return None
    try:
        text = raw.decode("utf-8-sig")  # a BOM from a Windows editor is fine
    except UnicodeDecodeError:
        return None
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if first.startswith("#") or (first and parse_record(first) is not None):
        return text
    return None


def read(path, problems=None):
    """The records of a capture file: a list of (seconds, bytes), seconds never decreasing.

    A malformed line raises ValueError naming it; given a list as problems, each is described
    there instead and the rest of the file is read (a line of bad hex is skipped, a time that
    goes back is kept at the previous time)."""
    with open(path, "rb") as f:
        raw = f.read()
    text = _text_of(raw)
    if text is None:
        # raw bytes: as if they arrived back to back at 2400 baud, one second per 240 bytes (8N1)
        step = BYTES_PER_SECOND
        return [(float(i // step), raw[i : i + step]) for i in range(0, len(raw), step)]
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        record, problem = check_record(line)
        where = "%s line %d" % (path, number)
        if record is None:
            _bad(problems, "%s: %s; line skipped" % (where, problem))
            continue
        if records and record[0] < records[-1][0]:
            # the bytes are good: keep them, at the previous time
            _bad(problems, "%s: time %g is before the previous %g; kept at %g" % (where, record[0], records[-1][0], records[-1][0]))
            record = (records[-1][0], record[1])
        records.append(record)
    return records


def _bad(problems, message):
    if problems is None:
        raise ValueError(message)
    problems.append(message)


def write(path_or_file, records, header_lines=()):
    """Writes records [(seconds, bytes)] as hanlog text, header_lines first as '# ' comments."""
    text = "".join("# %s\n" % line if line else "#\n" for line in header_lines)
    text += "".join("%.3f %s\n" % (seconds, bytes(data).hex()) for seconds, data in records)
    if isinstance(path_or_file, (str, bytes, os.PathLike)):
        with open(path_or_file, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    else:
        path_or_file.write(text)
