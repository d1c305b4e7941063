# ringbuf.py Provides RingBuffer: a preallocated byte ring filled from a UART IRQ (or by polling) without allocation.
# MIT license
#
# One producer (the UART handler) moves only `head`, one consumer (the main loop) moves only
# `tail`, so a soft IRQ that runs between two opcodes of get() cannot corrupt the ring.

from micropython import const
from counter import add

# 4.7 s of bytes at 2400 8E1 (11 bits a byte: 218 B/s): outlasts the longest network wait of a loop
# pass (an MQTT I/O timeout of 3 s, then up to 1 s of queued energy). Behind it the UART driver's own
# 2048 bytes (uart_open.py) wait until the ring has room, so a longer stall delays bytes, not loses them.
_SIZE = const(1024)
_CHUNK = const(64)


class RingBuffer:
    def __init__(self, size=_SIZE):
        self.buf = bytearray(size)
        self.head = 0  # next slot to write
        self.tail = 0  # next slot to read
        self.overflow = 0  # bytes put() dropped because the ring was full (modulo 2**30)
        self.received = 0  # bytes stored (modulo 2**30: counters stay small ints, see counter.py)
        self._chunk = bytearray(_CHUNK)
        self._uart = None
        self._irq = False
        self._handler = self._on_irq  # bound once: binding in the IRQ would allocate

    def put(self, src, n):
        # store src[0:n]; what does not fit is counted in overflow, never silently lost
        buf = self.buf
        size = len(buf)
        h = self.head
        t = self.tail
        for i in range(n):
            nh = h + 1
            if nh == size:
                nh = 0
            if nh == t:
                self.overflow = add(self.overflow, n - i)
                break
            buf[h] = src[i]
            h = nh
        self.received = add(self.received, (h - self.head) % size)
        self.head = h

    def get(self, dst):
        # move up to len(dst) bytes into dst; returns the count
        buf = self.buf
        size = len(buf)
        h = self.head
        t = self.tail
        n = 0
        m = len(dst)
        while t != h and n < m:
            dst[n] = buf[t]
            n += 1
            t += 1
            if t == size:
                t = 0
        self.tail = t
        return n

    def drain(self, dst, readers):
        # everything the ring holds, through dst a piece at a time, to each reader's feed(dst, n): the
        # app's frame readers (lib/framers.py), several while the kind of frame is still unknown
        n = self.get(dst)
        while n:
            for r in readers:
                r.feed(dst, n)
            n = self.get(dst)

    def any(self):
        d = self.head - self.tail
        return d if d >= 0 else d + len(self.buf)

    def attach(self, uart):
        # Fill from uart's RX interrupt where the port has UART.irq, else poll() must be called.
        # Returns True when the IRQ is in use.
        self._uart = uart
        try:
            trigger = uart.IRQ_RX | getattr(uart, "IRQ_RXIDLE", 0)
            uart.irq(handler=self._handler, trigger=trigger)
            self._irq = True
        except (AttributeError, TypeError, ValueError, OSError):
            self._irq = False
        return self._irq

    def use_polling(self):
        # the IRQ never runs (serial_port.IrqWatch): take it off the UART, and fill the ring from poll()
        try:
            self._uart.irq(handler=None)
        except (AttributeError, TypeError, ValueError, OSError):
            pass
        self._irq = False

    def poll(self):
        # drain the UART into the ring when there is no IRQ (two producers would race)
        if self._uart is not None and not self._irq:
            self._on_irq(self._uart)

    def _on_irq(self, uart):
        # Take from the UART only what the ring has room for: the rest waits in the driver's own
        # buffer, which so stays slack behind the ring instead of being drained into overflow.
        chunk = self._chunk
        m = len(chunk)
        last = len(self.buf) - 1  # the ring holds at most size - 1 bytes
        while True:
            room = last - self.any()
            if room <= 0:
                return
            n = uart.readinto(chunk, room if room < m else m)
            if not n:
                return
            self.put(chunk, n)
