# socket.py Provides the ESP32's socket module on the 32-bit WebAssembly MicroPython: real TCP through tools/mpy32_net.mjs. Host only.
# MIT license
#
# Never deployed: it stands in for the ESP32's built-in socket (ports/esp32/modsocket.c) in the wasm
# runs, and behaves as that one does, not as CPython's or the unix port's:
# - setblocking(True) and settimeout(None) wait forever: setblocking(True) clears an earlier timeout;
# - setblocking(False) and settimeout(0) raise OSError(EAGAIN) where nothing can be done at once;
#   a non-blocking connect() raises OSError(EINPROGRESS) and completes in the background;
# - a timeout raises OSError(ETIMEDOUT), and connect() honours it;
# - errno numbers are the ESP32's (newlib's), not Linux's: ETIMEDOUT is 116, EINPROGRESS 119,
#   ENOTCONN 128 (the wasm port's own errno module has Linux's 110, 115, 107);
# - read(), readinto() and write() are the stream methods: None where a non-blocking socket has
#   nothing, and read(n) waits for n bytes or the end on a blocking one.
# Bytes move between Python objects and the JS side by address, so a call allocates only its result.

from micropython import const
from uctypes import addressof

import _mpy32net

AF_INET = const(2)
AF_INET6 = const(10)
SOCK_STREAM = const(1)
SOCK_DGRAM = const(2)
SOCK_RAW = const(3)
IPPROTO_IP = const(0)
IPPROTO_TCP = const(6)
IPPROTO_UDP = const(17)
SOL_SOCKET = const(0xFFF)
SO_REUSEADDR = const(4)
SO_BROADCAST = const(0x20)
TCP_NODELAY = const(1)

_EAGAIN = const(11)
_EINVAL = const(22)
_ETIMEDOUT = const(116)
_FOREVER = const(-1)
_DATA = _mpy32net.DATA  # most bytes one call moves

# looked up once: every attribute lookup on a JS module allocates a proxy
_new = _mpy32net.socket
_gai = _mpy32net.getaddrinfo
_bind = _mpy32net.bind
_listen = _mpy32net.listen
_accept = _mpy32net.accept
_peer_ip = _mpy32net.peer_ip
_peer_port = _mpy32net.peer_port
_connect = _mpy32net.connect
_send = _mpy32net.send
_recv = _mpy32net.recv
_take = _mpy32net.take
_close = _mpy32net.close


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    ip = _gai(host)
    if not isinstance(ip, str):
        raise OSError(ip)  # -202: the name does not resolve
    return [(AF_INET, SOCK_STREAM, IPPROTO_TCP, "", (ip, port))]


def _check(r):
    if r < 0:
        raise OSError(-r)
    return r


class socket:
    def __init__(self, af=AF_INET, type=SOCK_STREAM, proto=0, _fd=None):
        if type != SOCK_STREAM:
            raise OSError(_EINVAL)  # this stand-in does TCP only
        self._fd = _new() if _fd is None else _fd
        self._t = _FOREVER  # ms to wait; 0 never waits

    def settimeout(self, t):
        self._t = _FOREVER if t is None else int(t * 1000)

    def setblocking(self, flag):
        self._t = _FOREVER if flag else 0  # True clears any timeout, as on the ESP32

    def setsockopt(self, level, opt, value):
        if opt not in (SO_REUSEADDR, TCP_NODELAY, SO_BROADCAST):
            print("Warning: lwip.setsockopt() option not implemented")

    def fileno(self):
        return self._fd

    def makefile(self, *args):
        return self

    def bind(self, addr):
        _check(_bind(self._fd, addr[0], addr[1]))

    def listen(self, backlog=2):
        _check(_listen(self._fd, backlog))

    def accept(self):
        fd = _check(_accept(self._fd, self._t))
        return socket(_fd=fd), (_peer_ip(), _peer_port())

    def connect(self, addr):
        _check(_connect(self._fd, addr[0], addr[1], self._t))

    def _tx(self, data, once):
        # -> bytes sent; blocking sends all unless the timeout passes; an error with nothing sent raises
        if isinstance(data, str):
            data = data.encode()
        n = len(data)
        if not n:  # the ESP32 raises here too: its send loop ends with nothing sent
            raise OSError(_EAGAIN if not self._t else _ETIMEDOUT)
        a = addressof(data)
        done = 0
        while done < n:
            r = _send(self._fd, a + done, min(n - done, _DATA), self._t, once)
            if r < 0:
                if done:
                    return done
                raise OSError(-r)
            done += r
            if once:
                break
        return done

    def send(self, data):
        return self._tx(data, False)

    def sendall(self, data):
        if self._tx(data, False) < len(data):
            raise OSError(_ETIMEDOUT)

    def write(self, data, *lengths):
        # the stream write(buf[, max_len]) or (buf, off, max_len): as much as goes, None if nothing could
        # be written at once
        off, n = (0, lengths[0]) if len(lengths) == 1 else lengths if lengths else (0, len(data))
        data = memoryview(data)[off : off + n] if off or n < len(data) else data
        n = len(data)
        done = 0
        while done < n:
            try:
                done += self._tx(memoryview(data)[done:] if done else data, True)
            except OSError as e:
                if e.args[0] == _EAGAIN:
                    return done or None
                raise
        return done

    def recv(self, n):
        k = _check(_recv(self._fd, 0, n, self._t))
        if not k:
            return b""
        b = bytearray(k)
        _take(addressof(b), k)
        return bytes(b)

    def _rx(self, a, n):
        # the stream read: until n bytes or the end; -> (count, errno of the error that stopped it or 0)
        done = 0
        while done < n:
            r = _recv(self._fd, a + done, n - done, self._t)
            if r == 0:
                break
            if r < 0:
                if r == -_EAGAIN and done:
                    break
                return done, -r
            done += r
        return done, 0

    def readinto(self, buf, nbytes=-1):
        n = len(buf) if nbytes < 0 else min(nbytes, len(buf))
        k, err = self._rx(addressof(buf), n) if n else (0, 0)
        if err == _EAGAIN:
            return None
        if err:
            raise OSError(err)
        return k

    def read(self, n=-1):
        if n < 0:
            out = b""
            while True:
                chunk = self.read(512)
                if not chunk:
                    return out or chunk
                out += chunk
        b = bytearray(n)
        k = self.readinto(b)
        if k is None:
            return None
        return bytes(b) if k == n else bytes(memoryview(b)[:k])

    def close(self):
        if self._fd >= 0:
            _close(self._fd)
            self._fd = -1
