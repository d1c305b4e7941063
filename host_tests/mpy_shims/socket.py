# socket.py Provides the unix port's socket with the ESP32's blocking rules, for the firmware on the unix port in tests.
# Test-only, never deployed. On the ESP32 setblocking(True) means "wait forever": it clears a timeout set
# with settimeout() (ports/esp32/modsocket.c), and a TLS socket forwards setblocking() to the socket below
# it. The unix port's setblocking(True) keeps the earlier timeout, so there a read that would hang a
# board still times out. Sockets made here wrap the real ones and behave as the device's do.

import io
import sys

_self = sys.modules.pop("socket")  # this module: out of the way while the built-in one is imported
_path = sys.path[:]
sys.path[:] = []  # with no path, `import socket` finds only the built-in
try:
    import socket as _real
finally:
    sys.path[:] = _path
    sys.modules["socket"] = _self

for _name in dir(_real):  # the built-in's constants and getaddrinfo; its socket is replaced below
    if not _name.startswith("_"):
        globals()[_name] = getattr(_real, _name)

_GET_FILENO = 10  # stream ioctl requests (py/stream.h)
_POLL = 3
_CLOSE = 4


class socket(io.IOBase):
    # io.IOBase: select.poll and ssl (mbedtls) see a stream and call readinto/write/ioctl below
    def __init__(self, af=_real.AF_INET, kind=_real.SOCK_STREAM, proto=0, _sock=None):
        self._s = _sock if _sock is not None else _real.socket(af, kind, proto)

    def setblocking(self, flag):
        self._s.settimeout(None if flag else 0)  # the ESP32: True waits forever, False never waits

    def settimeout(self, t):
        self._s.settimeout(t)

    def accept(self):
        s, addr = self._s.accept()
        return socket(_sock=s), addr

    def readinto(self, buf, n=-1):
        return self._s.readinto(buf) if n < 0 else self._s.readinto(buf, n)

    def read(self, n=-1):
        return self._s.read() if n < 0 else self._s.read(n)

    def write(self, buf, n=-1):
        return self._s.write(buf) if n < 0 else self._s.write(buf, n)

    def close(self):
        self._s.close()

    def ioctl(self, request, arg):
        if request == _GET_FILENO:  # select.poll on the unix port polls the descriptor itself
            return self._s.fileno()
        if request == _CLOSE:
            self._s.close()
            return 0
        if request == _POLL:
            import select

            p = select.poll()
            p.register(self._s, arg)
            for _, event in p.ipoll(0):
                return event
            return 0
        return -22  # EINVAL

    def __getattr__(self, name):  # bind, listen, connect, send, recv, setsockopt, fileno ...
        return getattr(self._s, name)
