# hanlog.py Provides reading and writing of HAN captures: hanlog text, or raw bytes paced at 2400 baud.
# The format is described in docs/capture-format.md. PC side; parse_record() also runs on MicroPython
# (tools/han_decode.py uses it there).

import os

BYTES_PER_SECOND = 240  # 2400 baud, 10 bits a byte: how fast the meter's bytes arrive


def parse_record(line):
    # "12.500 7ea0..7e" -> (12.5, bytes), or None when the line is not of that form
    parts = line.split(None, 1)
    if len(parts) != 2:
        return None
    try:
        seconds = float(parts[0])
        data = bytes.fromhex(parts[1])  # whitespace between byte pairs is allowed
    except ValueError:
        return None
    if not data or seconds != seconds or seconds < 0 or seconds == float("inf"):
        return None
    return seconds, data


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


def read(path):
    """The records of a capture file: a list of (seconds, bytes), seconds never decreasing."""
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
        record = parse_record(line)
        where = "%s line %d" % (path, number)
        if record is None:
            raise ValueError("%s: expected '<seconds> <hex bytes>', got %r" % (where, line.strip()[:60]))
        if records and record[0] < records[-1][0]:
            raise ValueError("%s: time %g is before the previous %g" % (where, record[0], records[-1][0]))
        records.append(record)
    return records


def write(path_or_file, records, header_lines=()):
    """Writes records [(seconds, bytes)] as hanlog text, header_lines first as '# ' comments."""
    text = "".join("# %s\n" % line if line else "#\n" for line in header_lines)
    text += "".join("%.3f %s\n" % (seconds, bytes(data).hex()) for seconds, data in records)
    if isinstance(path_or_file, (str, bytes, os.PathLike)):
        with open(path_or_file, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    else:
        path_or_file.write(text)
