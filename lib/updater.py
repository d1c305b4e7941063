# updater.py Provides receive() and fetch(): an update bundle (tools/bundle.py) streamed into the free app slot, checked, and switched to at the next start.
# MIT license
#
# Imported only while an update comes in, then dropped. The bundle is never held in RAM: it goes
# through one small buffer, its files straight to flash in the slot firmware/app_slot.py names
# (never the running app, nor the one a trial would go back to), each file's SHA-256 computed as it
# is written. The manifest is checked before the first file byte (format, its own SHA-256, the
# MicroPython release and .mpy format it needs, the room on flash) and written to the slot, then
# read back a line per file. Anything wrong: the slot is emptied and an UpdateError names the place;
# the running app and the pointer are untouched. Only when every file has matched is the pointer
# switched (one rename): the new app runs on trial from the next start. docs/updates.md.

import binascii
import hashlib
import os
import sys
from micropython import const

_LINE = const(160)  # the longest manifest line: "file <length> <64 hex> <name>"
_CHUNK = const(512)  # bytes read from the network at once
_TIMEOUT_S = const(5)
_ARCHES = {2: "x64", 10: "xtensawin", 11: "rv32imc"}  # sys.implementation._mpy >> 10
_MANIFEST = "manifest.txt"


class UpdateError(Exception):
    pass


def _hex(h):
    return binascii.hexlify(h.digest()).decode()


class Update:
    # feed() the bundle's bytes in pieces of any size, then finish()
    def __init__(self):
        app_slot = _slots()
        p = app_slot.read()
        if p[2] == "trial":
            raise UpdateError("an update is on trial (%s): wait until it has proved itself or gone back" % p[0])
        self.slot = app_slot.target(p)
        del app_slot
        self.line = bytearray(_LINE)
        self.k = 0  # bytes in line
        self.lines = 0
        self.mhash = hashlib.sha256()
        self.version = None
        self.need = 0  # bytes of all files, from the manifest
        self.mleft = 0  # bytes of the manifest not read yet, from its first line
        self.files = 0
        self.out = None  # the file being written, its expected SHA-256 (hex), bytes left, its hash, its name
        self.want = None
        self.left = 0
        self.fhash = None
        self.name = None
        self.reader = None  # the manifest, read back a line per file
        self.done = False
        _empty(self.slot)
        self.man = open(self.slot + "/" + _MANIFEST, "w")

    def feed(self, data):
        try:
            self._feed(memoryview(data))
        except Exception as e:
            self.abort()
            raise e if isinstance(e, UpdateError) else UpdateError("%s: %r" % (self.name or "manifest", e))

    def _feed(self, mv):
        i, n = 0, len(mv)
        while i < n:
            if self.done:
                raise UpdateError("%d bytes after the last file: not a bundle of this format" % (n - i))
            if self.reader is None:  # the manifest: a line at a time
                b = mv[i]
                i += 1
                self.mleft -= 1
                if b == 10:
                    self._header(bytes(self.line[: self.k]).decode())
                    self.k = 0
                elif self.k == _LINE:
                    raise UpdateError("manifest line %d: longer than %d bytes: not an update bundle" % (self.lines + 1, _LINE))
                else:
                    self.line[self.k] = b
                    self.k += 1
                continue
            take = min(n - i, self.left)
            piece = mv[i : i + take]
            self.out.write(piece)
            self.fhash.update(piece)
            self.left -= take
            self.need -= take
            i += take
            if not self.left:
                self._next_file()

    def _header(self, text):
        self.lines += 1
        words = text.split()
        if self.lines == 1:
            if len(words) != 3 or words[0] != "han-bundle" or words[1] != "1":
                raise UpdateError("not an update bundle (first line %r; make bundle writes them)" % text[:40])
            self.mleft = int(words[2])
        elif words and words[0] == "end":
            if len(words) != 2 or words[1] != _hex(self.mhash):
                raise UpdateError("manifest: its SHA-256 does not match (damaged in transfer?)")
            return self._manifest_done()
        elif words[0] == "version" and len(words) == 2:
            self.version = words[1]
        elif words[0] == "micropython" and len(words) == 2:
            need = tuple(int(x) for x in words[1].split("."))
            have = tuple(sys.implementation.version[:3])
            if have < need:
                raise UpdateError("micropython: this app needs MicroPython %s or newer, the dongle runs %d.%d.%d: flash a"
                                  " newer release first (README, make flash)" % ((words[1],) + have))
        elif words[0] == "mpy" and len(words) == 4:
            mine = getattr(sys.implementation, "_mpy", 0)
            arch = _ARCHES.get(mine >> 10)
            if int(words[1]) != mine & 0xFF:
                raise UpdateError("mpy: .mpy version %s, this MicroPython loads %d" % (words[1], mine & 0xFF))
            if arch and words[3] != arch:
                raise UpdateError("mpy: the bundle is for %s, this dongle is %s: build it with make bundle BOARD=<its board>" % (words[3], arch))
        elif words[0] == "file" and len(words) == 4 and len(words[2]) == 64 and _safe(words[3]):
            self.need += int(words[1])
            self.files += 1
        else:
            raise UpdateError("manifest line %d: not understood: %r" % (self.lines, text[:60]))
        self.mhash.update((text + "\n").encode())
        self.man.write(text + "\n")

    def _manifest_done(self):
        if not self.version or not self.files:
            raise UpdateError("manifest: no version or no files")
        try:
            st = os.statvfs(self.slot)
            free = st[0] * st[3]
        except (AttributeError, OSError):
            free = self.need
        if free < self.need:
            raise UpdateError("flash: the app needs %d bytes, %d are free" % (self.need, free))
        self.man.close()
        self.man = None
        self.reader = open(self.slot + "/" + _MANIFEST)
        self._next_file()

    def _next_file(self):
        if self.out is not None:
            self.out.close()
            self.out = None
            if _hex(self.fhash) != self.want:
                raise UpdateError("%s: SHA-256 does not match the manifest (damaged in transfer?); nothing was switched" % self.name)
        while True:
            words = self.reader.readline().split()
            if not words:
                self.reader.close()
                self.reader = False  # no more manifest, and no more file
                self.done = True
                return
            if words[0] == "file":
                break
        self.left, self.want, self.name = int(words[1]), words[2], words[3]
        self.fhash = hashlib.sha256()
        self.out = open(self.slot + "/" + self.name, "wb")
        if not self.left:
            self._next_file()

    def wanted(self):
        # bytes to ask the stream for: never past the bundle's end (a socket's readinto waits to fill)
        if self.done:
            return 0
        if self.reader is None:
            return self.mleft if self.lines else 1
        return min(self.need, _CHUNK)

    def finish(self):
        # every file written and matched: the pointer names the new app, on trial from the next start
        if not self.done:
            where = ("in %s, %d bytes short" % (self.name, self.left)) if self.out else "in the manifest"
            self.abort()
            raise UpdateError("the bundle ended early (%s); nothing was switched" % where)
        _slots().switch(self.slot, self.version)
        return "version %s written to %s (%d files); it runs on trial from the next start" % (self.version, self.slot, self.files)

    def abort(self):
        for f in (self.out, self.man, self.reader):
            if f:
                f.close()
        self.out = self.man = self.reader = None
        _empty(self.slot)


def receive(readinto, first=b"", between=None):
    # a bundle from a stream (an HTTP request's body): readinto(buffer) -> bytes read, 0 at its end;
    # first: body bytes already read with the headers; between(): called after each piece (the
    # loop's UART step, so the meter is read while a bundle comes in). -> a message, or UpdateError
    u = Update()
    if first:
        u.feed(first)
    buf = bytearray(_CHUNK)
    mv = memoryview(buf)
    while not u.done:
        try:
            n = readinto(buf, min(u.wanted(), _CHUNK))
        except OSError as e:
            u.abort()
            raise UpdateError("the connection failed (%r); nothing was switched" % e)
        if not n:
            break
        u.feed(mv[:n])
        if between:
            between()
    return u.finish()


def fetch(url, between=None):
    # a bundle from http://host[:port]/path (the dongle's ssl has no CA to check a server with)
    import socket

    if not url.startswith("http://"):
        raise UpdateError("url: only http:// is supported")
    host, _, path = url[7:].partition("/")
    host, _, port = host.partition(":")
    s = socket.socket()
    try:
        s.settimeout(_TIMEOUT_S)
        s.connect(socket.getaddrinfo(host, int(port or 80))[0][-1])
        s.write(b"GET /%s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path.encode(), host.encode()))
        status = s.readline().split()
        if len(status) < 2 or status[1] != b"200":
            raise UpdateError("url: the server answered %r" % b" ".join(status[1:]).decode())
        while s.readline() not in (b"\r\n", b"\n", b""):
            pass
        return receive(s.readinto, between=between)
    except OSError as e:
        raise UpdateError("url: %r" % e)
    finally:
        s.close()


def _slots():
    # firmware/app_slot.py (beside main.py): source on a device, compiled at import; dropped while the files stream in
    import app_slot

    sys.modules.pop("app_slot", None)
    return app_slot


def _safe(name):
    # a file name of the app: no folders, no dot files
    if not name or name[0] == "." or len(name) > 40:
        return False
    for c in name:
        if not (c.isalpha() or c.isdigit() or c in "._-"):
            return False
    return True


def _empty(slot):
    try:
        for name in os.listdir(slot):
            os.remove(slot + "/" + name)
    except OSError:
        os.mkdir(slot)
