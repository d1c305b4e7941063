# web.py Provides WebServer: a small non-blocking HTTP/1.0 server polled from the main loop.
# MIT license
#
# Nothing here waits: accept, read and write happen only when poll() says the socket is ready,
# so a slow or hostile client never holds up the UART. All limits are the constants below.
#
# Memory: a request is read into the server's one read buffer, and only its first line is kept
# (up to _LINE bytes); the headers are scanned for their end and dropped, never gathered into a
# growing string. A response goes out piece by piece as the socket takes them: the header, then the
# body from flash a chunk at a time, or from an iterator of small str/bytes pieces, so no response
# is ever built whole in RAM and no allocation while serving is larger than one piece.

import os
import select
import socket
import time
from micropython import const

from counter import add

MAX_CLIENTS = const(4)  # connections served at once; one more is told 503 and closed
MAX_REQUEST = const(2048)  # request line and headers; more is 413
CLIENT_TIMEOUT_MS = const(5000)  # a client that has not finished by then is dropped
_LINE = const(128)  # of the request line, kept per client: longer is 414
_READ = const(256)  # bytes read at once, and per chunk of a file body
_BURST = const(2048)  # bytes written to one client per poll, so the UART is read in between
_EAGAIN = const(11)

_REASONS = {200: "OK", 303: "See Other", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large",
            414: "URI Too Long", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}

# a client: [request line buffer, its length, at a line start, bytes read, started ms,
#            piece being sent (memoryview) or None, body: iterator, open file or None, chunk buffer]
_BUF = const(0)
_LEN = const(1)
_BOL = const(2)
_GOT = const(3)
_T0 = const(4)
_OUT = const(5)
_BODY = const(6)
_FILE = const(7)
_CHUNK = const(8)


class WebServer:
    def __init__(self, port, routes, host="0.0.0.0"):
        # routes: path -> function() returning (content type, body). The body is bytes; or the path
        # of a file to stream from flash (so a page costs no RAM while nobody looks); or an iterator
        # of str or bytes pieces, sent as they come (no Content-Length: the end is the close)
        self.routes = routes
        self.served = 0
        self.rejected = 0
        self.errors = 0
        self.buf = bytearray(_READ)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(socket.getaddrinfo(host, port)[0][-1])
        s.listen(MAX_CLIENTS)
        s.setblocking(False)
        self.sock = s
        self.poller = select.poll()
        self.poller.register(s, select.POLLIN)
        self.clients = {}  # socket -> client list (see above)
        # forms: called with a request line whose path starts with /s (/setup, /settings) and its socket;
        # returns a reader (lib/form_req.py, imported for the request) that takes the rest of the request,
        # or None. A reader may read a long body from the socket itself (an update, lib/app_update.py),
        # and leaves it non-blocking
        self.forms = None

    def poll(self):
        for sock, event in self.poller.poll(0):
            if sock is self.sock:
                self._accept()
            elif sock in self.clients:
                if event & (select.POLLHUP | select.POLLERR):
                    self._close(sock)
                elif self.clients[sock][_BUF] is not None:
                    self._read(sock)
                else:
                    self._write(sock)
        now = time.ticks_ms()
        for sock in [s for s, c in self.clients.items() if time.ticks_diff(now, c[_T0]) > CLIENT_TIMEOUT_MS]:
            self._close(sock)

    def _accept(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        conn.setblocking(False)
        self.clients[conn] = [bytearray(_LINE), 0, True, 0, time.ticks_ms(), None, None, None, None]
        self.poller.register(conn, select.POLLIN)
        if len(self.clients) > MAX_CLIENTS:
            self.rejected += 1
            self._respond(conn, 503, "text/plain", b"busy, try again\n")

    def _read(self, sock):
        # keep the request line, drop the headers, act at the blank line that ends them
        buf = self.buf
        try:
            n = sock.readinto(buf)
        except OSError:
            n = 0
        if n is None:  # nothing to read after all
            return
        if not n:
            self._close(sock)
            return
        c = self.clients[sock]
        line, k, bol = c[_BUF], c[_LEN], c[_BOL]
        if not isinstance(line, bytearray):  # a form's reader has the request
            return self._answer(sock, line.feed(buf, 0, n))
        for i in range(n):
            b = buf[i]
            if b == 10:  # "\n": a blank line ends the headers ("\r" is skipped)
                if bol:
                    return self._handle(sock, c, line, k)
                bol = True
                if k < _LINE:
                    if self.forms and bytes(line[:k]).find(b" /s") > 0:
                        c[_BUF] = r = self.forms(bytes(line[:k]), sock)
                        if r:
                            return self._answer(sock, r.feed(buf, i + 1, n))
                        c[_BUF] = line
                    k = _LINE + k  # the request line is complete: the length moves above _LINE
            elif b != 13:
                bol = False
                if k < _LINE:
                    line[k] = b
                    k += 1
                    if k == _LINE:  # no room for its end: too long to be any of our paths
                        return self._respond(sock, 414, "text/plain", b"request line too long\n")
        c[_LEN], c[_BOL], c[_GOT] = k, bol, c[_GOT] + n
        if c[_GOT] > MAX_REQUEST:
            self._respond(sock, 413, "text/plain", b"request too large\n")

    def _handle(self, sock, c, line, k):
        words = bytes(memoryview(line)[: k - _LINE if k > _LINE else k]).split()
        if len(words) != 3 or not words[2].startswith(b"HTTP/"):
            return self._respond(sock, 400, "text/plain", b"bad request\n")
        method, path = words[0], words[1].split(b"?", 1)[0]
        if method not in (b"GET", b"HEAD"):
            return self._respond(sock, 405, "text/plain", b"GET only\n")
        route = self.routes.get(path.decode() if _printable(path) else "")
        if route is None:
            return self._respond(sock, 404, "text/plain", b"not found\n")
        try:
            content_type, body = route()
            first = None
            if not isinstance(body, (str, bytes)):  # an iterator: its first piece now, so a failure is a 500
                first = next(body, b"")
        except Exception:  # MemoryError above all: answer, and keep serving
            self.errors += 1
            return self._respond(sock, 500, "text/plain", b"internal error\n")
        self._respond(sock, 200, content_type, body, head=method == b"HEAD", first=first)

    def _answer(self, sock, r):
        # a form reader's answer, once it has the whole request: (status, content type, body, extra headers)
        if r:
            self.clients[sock][_T0] = time.ticks_ms()  # an update may have taken longer than a client's time
            self._respond(sock, r[0], r[1], r[2], extra=r[3])

    def _respond(self, sock, status, content_type, body, head=False, first=None, extra=""):
        c = self.clients[sock]
        c[_BUF] = None  # the request is done with: its buffer goes
        length = ""
        if isinstance(body, str):  # a file
            length = "Content-Length: %d\r\n" % os.stat(body)[6]
            if not head:
                c[_FILE] = open(body, "rb")
                c[_CHUNK] = bytearray(_READ)
        elif isinstance(body, bytes):
            length = "Content-Length: %d\r\n" % len(body)
            if not head:
                c[_BODY] = iter((body,))
        elif not head:
            c[_BODY] = _chain(first, body)
        c[_OUT] = memoryview((
            "HTTP/1.0 %d %s\r\nContent-Type: %s\r\n%s%sCache-Control: no-store\r\nConnection: close\r\n\r\n" % (
                status, _REASONS[status], content_type, length, extra)).encode())
        self.poller.modify(sock, select.POLLOUT)
        self.served = add(self.served, 1)  # wraps at 2**30 (counter.py)

    def _write(self, sock):
        # pieces until the socket takes no more, the body ends, or this client had its share for now
        c = self.clients[sock]
        sent = 0
        while sent < _BURST:
            out = c[_OUT]
            if out is None:
                out = self._next(c)
                if out is None:  # all sent
                    return self._close(sock)
            try:
                n = sock.send(out)
            except OSError as e:
                if e.args[0] == _EAGAIN:  # not writable after all: wait for the next POLLOUT
                    c[_OUT] = out
                    return
                return self._close(sock)
            if not n:
                return self._close(sock)
            sent += n
            c[_OUT] = out[n:] if n < len(out) else None
            if c[_OUT] is not None:
                return

    def _next(self, c):
        # the next piece of the body as a memoryview, or None at its end
        f = c[_FILE]
        if f is not None:
            n = f.readinto(c[_CHUNK])
            return memoryview(c[_CHUNK])[:n] if n else None
        if c[_BODY] is None:
            return None
        for piece in c[_BODY]:
            if piece:
                return memoryview(piece)
        return None

    def _close(self, sock):
        c = self.clients.get(sock)
        if c and c[_FILE] is not None:
            c[_FILE].close()
        try:
            self.poller.unregister(sock)
        except (OSError, KeyError, ValueError):
            pass
        sock.close()
        self.clients.pop(sock, None)


def _chain(first, rest):
    if first:
        yield first
    for piece in rest:
        yield piece


def _printable(b):
    for x in b:
        if x < 33 or x > 126:
            return False
    return True
