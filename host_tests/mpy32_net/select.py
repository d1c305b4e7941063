# select.py Provides select.poll over the sockets of host_tests/mpy32_net/socket.py on the 32-bit WebAssembly MicroPython. Host only.
# MIT license
#
# Never deployed. As on the ESP32 (extmod/modselect.c over lwIP's select): register() without a mask
# asks for POLLIN | POLLOUT, POLLHUP is reported only when asked for, POLLERR never, POLLNVAL for a
# closed socket; modify() of an object not registered raises OSError(ENOENT); unregister() of one
# does nothing; ipoll(timeout, 1) is one-shot. The registrations live in one array('i') of
# (fd, events, revents) triples that the JS side reads and fills in place.

from array import array
from micropython import const
from uctypes import addressof

import _mpy32net

POLLIN = const(1)
POLLOUT = const(4)
POLLERR = const(8)
POLLHUP = const(16)
POLLNVAL = const(32)

_ENOENT = const(2)
_poll = _mpy32net.poll
_sleep_ms = _mpy32net.sleep_ms


class poll:
    def __init__(self):
        self._objs = []
        self._io = array("i")

    def register(self, obj, eventmask=POLLIN | POLLOUT):
        for i, o in enumerate(self._objs):
            if o is obj:
                self._io[3 * i + 1] = eventmask
                return
        self._objs.append(obj)
        self._io.extend((obj.fileno(), eventmask, 0))

    def modify(self, obj, eventmask):
        for i, o in enumerate(self._objs):
            if o is obj:
                self._io[3 * i + 1] = eventmask
                return
        raise OSError(_ENOENT)

    def unregister(self, obj):
        for i, o in enumerate(self._objs):
            if o is obj:
                self._objs.pop(i)
                self._io = self._io[: 3 * i] + self._io[3 * i + 3 :]
                return

    def _wait(self, timeout):
        n = len(self._objs)
        t = -1 if timeout is None or timeout < 0 else timeout
        if not n:
            _sleep_ms(t) if t >= 0 else None
            return 0
        return _poll(addressof(self._io), n, t)

    def poll(self, timeout=-1):
        if not self._wait(timeout):
            return []
        io = self._io
        return [(o, io[3 * i + 2]) for i, o in enumerate(self._objs) if io[3 * i + 2]]

    def ipoll(self, timeout=-1, flags=0):
        if not self._wait(timeout):
            return
        io = self._io
        for i, o in enumerate(self._objs):
            if io[3 * i + 2]:
                if flags & 1:
                    io[3 * i + 1] = 0  # one-shot: not polled again until modify()
                yield o, io[3 * i + 2]
