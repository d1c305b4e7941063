# energy_load.py Provides load(): an EnergyQueue's file read at boot, a write a reset cut off finished or undone, a damaged file set right.
# MIT license
#
# Needed at boot and when the file changed under the queue, never in between: lib/energy_queue.py
# imports it for the call and drops it again. The file's format is described there.

import json
import os
from micropython import const

_LINE_MAX = const(1024)  # lib/energy_queue.py's longest line
_MESSAGE = const(0)  # kinds of line
_END = const(1)
_BAD = const(2)


def load(q):
    # boot: finish or undo a write a reset cut off, count the messages, set a damaged file right
    q._n = q._head = q._end = 0
    q._acked = False
    try:
        t = _scan(q.tmp)
        if t:
            if t[3]:
                os.rename(q.tmp, q.path)
            else:
                os.remove(q.tmp)
            q.log("energy queue: %s a write a reset cut off" % ("finished" if t[3] else "undid"))
        f = _scan(q.path)
        if not f:
            return
        n, end, bad, whole = f
        if not whole:  # a copy first: a reset before the rename leaves the file as it was
            with open(q.path + ".bad", "wb") as b:
                q._copy(b, 0, os.stat(q.path)[6])
            with open(q.tmp, "wb") as t:
                n = _scan(q.path, t)[0]
                end = t.tell()
                t.write(b"end %d\n" % n)
            q._commit("repair")
            q.corrupt += bad
            q.log("energy queue: %s was damaged: %d unreadable line(s) skipped, %d message(s) kept; the old file is %s.bad" % (
                q.path, bad, n, q.path))
        q._n, q._end = n, end
        if n:
            q.log("energy queue: %d message(s) waiting" % n)
    except OSError as e:  # the loop must run all the same; every write will say so too
        q.log("energy queue: cannot use %s (%s)" % (q.path, e))


def _kind(line):
    # a message (a line holding a JSON object), the "end" line, or neither
    if line is None or not line.endswith(b"\n"):
        return _BAD
    if line.startswith(b"end "):
        return _END
    try:
        return _MESSAGE if line.startswith(b"{") and isinstance(json.loads(line), dict) else _BAD
    except ValueError:  # MicroPython's JSON errors; CPython's UnicodeDecodeError is one too
        return _BAD


def _lines(f):
    # the file's lines; None for one over _LINE_MAX bytes, which is read past in pieces
    line = f.readline(_LINE_MAX)
    while line:
        if len(line) == _LINE_MAX and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = f.readline(_LINE_MAX)
            yield None
        else:
            yield line
        line = f.readline(_LINE_MAX)


def _scan(path, out=None):
    # (messages, offset of the end line, unreadable lines, whole) of a file, its messages written to
    # `out` if given; None when there is no file. Whole: every line readable, and the last one the only
    # end line, counting the messages.
    try:
        f = open(path, "rb")
    except OSError:
        return None
    n = end = bad = at = 0
    count = None
    kind = _BAD
    with f:
        for line in _lines(f):
            kind = _kind(line)
            if kind == _MESSAGE:
                n += 1
                end = at + len(line)
                if out is not None:
                    out.write(line)
            elif kind == _END and count is None:
                try:
                    count = int(line[4:-1])
                except ValueError:
                    kind = _BAD
            else:
                kind = _BAD  # a second end line is as bad as an unreadable one
            bad += kind == _BAD
            at += len(line) if line else 0
    return n, end, bad, bad == 0 and kind == _END and count == n
