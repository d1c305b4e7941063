# host_uart.py Provides HostUart: on the unix port, the meter's bytes from tools/replay.py over TCP. Host only.
# MIT license
#
# Behaves like machine.UART with timeout=0: readinto() returns at once with a count or None.
# It has no irq(), so the ring buffer polls it. Never deployed to a device.

import socket
import time
from micropython import const

_RETRY_MS = const(1000)


class HostUart:
    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self.address = socket.getaddrinfo(host or "127.0.0.1", int(port))[0][-1]
        self.name = address
        self.sock = None
        self.connected = False
        self._next_try = time.ticks_ms()

    def readinto(self, buf, nbytes=-1):
        # at most nbytes (all of buf by default), as machine.UART.readinto(buf[, nbytes])
        if self.sock is None and not self._connect():
            return None
        try:
            n = self.sock.readinto(buf, len(buf) if nbytes < 0 else nbytes)
        except OSError:
            n = 0
        if n == 0:  # the replay ended or went away: try again later
            self.sock.close()
            self.sock = None
            self.connected = False
            return None
        return n

    def _connect(self):
        if time.ticks_diff(time.ticks_ms(), self._next_try) < 0:
            return False
        self._next_try = time.ticks_add(time.ticks_ms(), _RETRY_MS)
        s = socket.socket()
        try:
            s.connect(self.address)  # loopback: answers or refuses at once
        except OSError:
            s.close()
            return False
        s.setblocking(False)
        self.sock = s
        self.connected = True
        return True
