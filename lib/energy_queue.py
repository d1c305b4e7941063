# energy_queue.py Provides EnergyQueue: hourly energy messages kept on flash until the broker has acknowledged them.
# MIT license
#
# The file holds one JSON message a line, oldest first, then a line "end <count>". It is never changed
# in place: a change writes the whole new file to <file>.tmp, closes it, and renames it over the old
# one, so a reset or a power cut leaves the old file or the new one. At boot, a temp file that ends in
# its "end" line was written whole and only its rename was cut off (on FAT, which removes the old file
# first, maybe half done): the rename is done then. One without it was cut off while being written: it
# goes, and the old file holds what it held. One write per message added, one per batch acknowledged.
#
# RAM holds a count and offsets, not the messages: the one being sent is read back from the file, a
# line of at most _LINE_MAX bytes, and copies go through a preallocated _COPY-byte buffer. A damaged
# file (unreadable lines, no "end" line) is copied to <file>.bad for a human; its readable messages stay
# (lib/energy_load.py, which reads the file at boot).

import os
import sys
import time
from micropython import const

_LINE_MAX = const(1024)  # the longest line read at once; an energy message is about 250 bytes
_COPY = const(256)
_PAUSE_S = const(60)  # the test hook's pause between writing the temp file and renaming it


class EnergyQueue:
    def __init__(self, path, limit=72, log=print):
        self.path = path
        self.tmp = path + ".tmp"
        self.limit = limit
        self.log = log
        self.dropped = 0  # since boot: the oldest when full, or a message that could not be written
        self.corrupt = 0  # unreadable lines found at boot
        self.writes = 0  # files written since boot (flash wear: about two an hour)
        self._n = 0  # messages not acknowledged yet: the file's lines from offset _head to _end
        self._head = 0
        self._end = 0
        self._len = 0  # the length of the line first() read (an add() in between moves it, not its length)
        self._acked = False  # acknowledged since the file was last written
        self._buf = bytearray(_COPY)
        getenv = getattr(os, "getenv", None)  # the unix port; the ESP32 has no environment
        self._pause = getenv("HAN_QUEUE_PAUSE") if getenv else None  # test hook: "add" or "ack"
        self._load()

    def __len__(self):
        return self._n

    def add(self, text):
        # one message (a line of JSON) onto flash: one write. False when it could not be kept.
        data = text.encode()
        if len(data) >= _LINE_MAX or data[:1] != b"{" or b"\n" in data:
            self.dropped += 1
            self.log("energy queue: refused a %d-byte message (one line of JSON, under %d)" % (len(data), _LINE_MAX))
            return False
        while self._n >= self.limit:  # keep the newest: the registers are cumulative
            line = self._read(self._head)
            if not line:
                break
            self._head += len(line)
            self._n -= 1
            self.dropped += 1
            self.log("energy queue: full, the oldest message dropped (%d since boot)" % self.dropped)
        if self._write(data, "add"):
            return True
        self.dropped += 1
        self.log("energy queue: lost " + text)
        return False

    def first(self):
        # the oldest message not acknowledged yet, read from the file; None when there is none
        line = self._read(self._head) if self._n else None
        if not line:
            return None
        self._len = len(line)
        return str(line[:-1], "utf-8")

    def acknowledged(self):
        # the message first() gave is acknowledged: gone from RAM now, from the file at save()
        self._head += self._len
        self._n -= 1
        self._acked = True

    def save(self):
        # the acknowledged messages leave the file: one write for the batch; none when there are none
        if self._acked and not self._write(None, "ack"):
            self.log("energy queue: after a reset the acknowledged messages go out again")

    # --- inside ---

    def _write(self, data, kind):
        # the file anew: the messages not acknowledged, then data (a message) if any, then the end line
        n = self._n + (data is not None)
        self._acked = False  # written now, or by the next write (not retried every loop pass)
        try:
            with open(self.tmp, "wb") as t:
                self._copy(t, self._head, self._end)
                if data is not None:
                    t.write(data)
                    t.write(b"\n")
                t.write(b"end %d\n" % n)
            self._commit(kind)
        except OSError as e:
            self.log("energy queue: cannot write %s (%s)" % (self.tmp, e))
            try:
                os.remove(self.tmp)
            except OSError:
                pass
            return False
        self._end -= self._head
        self._end += 0 if data is None else len(data) + 1
        self._head = 0
        self._n = n
        return True

    def _copy(self, t, start, stop):
        # bytes start to stop of the file into t
        left = stop - start
        if left <= 0:
            return  # there may be no file yet
        buf = self._buf
        with open(self.path, "rb") as f:
            f.seek(start)
            while left > 0:  # whole buffers need no memoryview object
                got = f.readinto(buf) if left >= _COPY else f.readinto(memoryview(buf)[:left])
                if not got:
                    raise OSError("%s ends early" % self.path)
                t.write(buf if got == _COPY else memoryview(buf)[:got])
                left -= got

    def _commit(self, kind):
        if self._pause == kind:  # the tests kill the firmware here
            self.log("energy queue: HAN_QUEUE_PAUSE: %d s before renaming %s" % (_PAUSE_S, self.tmp))
            time.sleep(_PAUSE_S)
        os.rename(self.tmp, self.path)
        self.writes += 1

    def _read(self, at):
        # the line at offset `at`; None when the file no longer has it (then it is read again)
        try:
            with open(self.path, "rb") as f:
                f.seek(at)
                line = f.readline(_LINE_MAX)
            if line.endswith(b"\n"):
                return line
        except OSError:
            pass
        self.log("energy queue: %s changed: reading it again" % self.path)
        self._load()
        return None

    def _load(self):
        # boot, and a file that changed under us: energy_load.py does it (its code is needed only
        # then, so it is imported for the call and dropped: no RAM the rest of the time)
        import energy_load

        try:
            energy_load.load(self)
        finally:
            sys.modules.pop("energy_load", None)
