# web.py Provides WebServer: a small non-blocking HTTP/1.0 server polled from the main loop.
# MIT license
#
# Nothing here waits: accept, read and write happen only when poll() says the socket is ready,
# so a slow or hostile client never holds up the UART. All limits are the constants below.

import os
import select
import socket
import time
from micropython import const

MAX_CLIENTS = const(4)  # connections served at once; one more is told 503 and closed
MAX_REQUEST = const(2048)  # request line and headers; more is 413
CLIENT_TIMEOUT_MS = const(5000)  # a client that has not finished by then is dropped
_READ = const(512)

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large",
            500: "Internal Server Error", 503: "Service Unavailable"}


class WebServer:
    def __init__(self, port, routes, host="0.0.0.0"):
        # routes: path -> function() returning (content type, body): bytes, or the path of a file
        # to stream from flash a chunk at a time (so a page costs no RAM while nobody looks)
        self.routes = routes
        self.served = 0
        self.rejected = 0
        self.errors = 0
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(socket.getaddrinfo(host, port)[0][-1])
        s.listen(MAX_CLIENTS)
        s.setblocking(False)
        self.sock = s
        self.poller = select.poll()
        self.poller.register(s, select.POLLIN)
        self.clients = {}  # socket -> [request so far, response memoryview or None, sent, started ms, file or None]

    def poll(self):
        for sock, event in self.poller.poll(0):
            if sock is self.sock:
                self._accept()
            elif sock in self.clients:
                if event & (select.POLLHUP | select.POLLERR):
                    self._close(sock)
                elif self.clients[sock][1] is None:
                    self._read(sock)
                else:
                    self._write(sock)
        now = time.ticks_ms()
        for sock in [s for s, c in self.clients.items() if time.ticks_diff(now, c[3]) > CLIENT_TIMEOUT_MS]:
            self._close(sock)

    def _accept(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        conn.setblocking(False)
        self.clients[conn] = [b"", None, 0, time.ticks_ms(), None]
        self.poller.register(conn, select.POLLIN)
        if len(self.clients) > MAX_CLIENTS:
            self.rejected += 1
            self._respond(conn, 503, "text/plain", b"busy, try again\n")

    def _read(self, sock):
        try:
            data = sock.recv(_READ)
        except OSError:
            data = b""
        if not data:
            self._close(sock)
            return
        c = self.clients[sock]
        c[0] += data
        if b"\r\n\r\n" in c[0] or b"\n\n" in c[0]:
            self._handle(sock, c[0])
        elif len(c[0]) > MAX_REQUEST:
            self._respond(sock, 413, "text/plain", b"request too large\n")

    def _handle(self, sock, request):
        line = request.split(b"\n", 1)[0].strip().split()
        if len(line) != 3 or not line[2].startswith(b"HTTP/"):
            return self._respond(sock, 400, "text/plain", b"bad request\n")
        method, path = line[0], line[1].split(b"?", 1)[0]
        if method not in (b"GET", b"HEAD"):
            return self._respond(sock, 405, "text/plain", b"GET only\n")
        route = self.routes.get(path.decode() if _printable(path) else "")
        if route is None:
            return self._respond(sock, 404, "text/plain", b"not found\n")
        try:
            content_type, body = route()
        except Exception:  # MemoryError above all: answer, and keep serving
            self.errors += 1
            return self._respond(sock, 500, "text/plain", b"internal error\n")
        self._respond(sock, 200, content_type, body, head=method == b"HEAD")

    def _respond(self, sock, status, content_type, body, head=False):
        c = self.clients[sock]
        if isinstance(body, str):
            length = os.stat(body)[6]
            if not head:
                c[4] = open(body, "rb")
            body = b""
        else:
            length = len(body)
        header = "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n" % (
            status, _REASONS[status], content_type, length)
        c[1] = memoryview(header.encode() + (b"" if head else body))
        c[2] = 0
        self.poller.modify(sock, select.POLLOUT)
        self.served += 1

    def _write(self, sock):
        c = self.clients[sock]
        try:
            n = sock.send(c[1][c[2]:])
        except OSError as e:
            if e.args[0] == 11:  # EAGAIN: not writable after all, wait for the next POLLOUT
                return
            n = 0
        c[2] += n or 0
        if n and c[2] >= len(c[1]) and c[4] is not None:
            chunk = c[4].read(_READ)  # the next piece of a file body
            if chunk:
                c[1] = memoryview(chunk)
                c[2] = 0
                return
        if not n or c[2] >= len(c[1]):
            self._close(sock)

    def _close(self, sock):
        c = self.clients.get(sock)
        if c and c[4] is not None:
            c[4].close()
        try:
            self.poller.unregister(sock)
        except (OSError, KeyError, ValueError):
            pass
        sock.close()
        self.clients.pop(sock, None)


def _printable(b):
    for x in b:
        if x < 33 or x > 126:
            return False
    return True
