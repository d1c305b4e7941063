# test_ringbuf.py Checks the UART ring buffer: order kept across wrap-around, overflow counted, IRQ or polling.
# Shared: runs under pytest and under the MicroPython unix port (mpy_runner.py).

from ringbuf import RingBuffer


class FakeUart:
    # stands in for machine.UART: bytes "arrive" with receive(); irq() as on ports that have it
    IRQ_RX = 1

    def __init__(self, with_irq=True):
        self.pending = bytearray()
        self.handler = None
        self.with_irq = with_irq

    def irq(self, handler=None, trigger=0):
        if not self.with_irq:
            raise AttributeError("no UART.irq on this port")
        self.handler = handler

    def readinto(self, buf, nbytes=-1):
        # as machine.UART.readinto(buf[, nbytes]): what is not read stays pending in the driver
        n = min(len(buf) if nbytes < 0 else nbytes, len(self.pending))
        if n == 0:
            return None  # what machine.UART returns with timeout=0 and nothing received
        for i in range(n):
            buf[i] = self.pending[i]
        self.pending = self.pending[n:]
        return n

    def receive(self, data):
        self.pending += data
        if self.handler:
            self.handler(self)


def _drain(rb):
    out = bytearray()
    buf = bytearray(50)
    while True:
        n = rb.get(buf)
        if not n:
            return bytes(out)
        out += buf[:n]


def test_bytes_come_out_in_order_across_wrap_around():
    rb = RingBuffer(100)
    data = bytes(range(256)) * 3
    out = bytearray()
    for i in range(0, len(data), 70):
        part = data[i : i + 70]
        rb.put(part, len(part))
        out += _drain(rb)
    assert bytes(out) == data and rb.overflow == 0 and rb.received == len(data)


def test_overflow_is_counted_and_keeps_what_fit():
    rb = RingBuffer(100)
    rb.put(bytes(range(150)), 150)
    assert rb.overflow == 51 and rb.any() == 99
    assert _drain(rb) == bytes(range(99))


def test_default_size_holds_four_seconds_at_2400_baud_and_twelve_with_the_driver_buffer():
    per_s = 2400 // 11  # 8E1: 11 bits a byte
    assert len(RingBuffer().buf) - 1 >= 4 * per_s  # an MQTT I/O timeout (3 s) and a second of queued energy
    assert len(RingBuffer().buf) - 1 + 2048 >= 12 * per_s  # serial_port.py's rxbuf=


def test_uart_irq_fills_the_ring():
    uart = FakeUart()
    rb = RingBuffer(300)
    assert rb.attach(uart)
    uart.receive(bytes(range(200)))
    rb.poll()  # a no-op while the IRQ is in use: two producers would race
    assert _drain(rb) == bytes(range(200))


def test_polling_fallback_without_uart_irq():
    uart = FakeUart(with_irq=False)
    rb = RingBuffer(300)
    assert not rb.attach(uart)
    uart.receive(b"\x7e\xa0\x27")
    assert rb.any() == 0
    rb.poll()
    assert _drain(rb) == b"\x7e\xa0\x27"


def test_a_full_ring_leaves_the_rest_in_the_uart_driver():
    # the driver's own buffer is slack behind the ring: nothing is read just to be dropped
    uart = FakeUart()
    rb = RingBuffer(100)
    assert rb.attach(uart)
    data = bytes(range(160))
    uart.receive(data[:150])
    assert rb.any() == 99 and rb.overflow == 0 and len(uart.pending) == 51
    out = _drain(rb)
    uart.receive(data[150:])  # the next IRQ takes what waited, then what came
    out += _drain(rb)
    assert out == data and rb.overflow == 0 and rb.received == 160 and not uart.pending


def test_a_full_ring_leaves_the_rest_in_the_uart_when_polling():
    uart = FakeUart(with_irq=False)
    rb = RingBuffer(100)
    assert not rb.attach(uart)
    uart.receive(bytes(range(250)))
    rb.poll()
    assert rb.any() == 99 and rb.overflow == 0 and len(uart.pending) == 151
    out = bytearray()
    while rb.any():
        out += _drain(rb)
        rb.poll()
    assert bytes(out) == bytes(range(250)) and rb.overflow == 0 and not uart.pending
