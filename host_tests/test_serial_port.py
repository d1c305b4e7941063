# test_serial_port.py Checks the meter serial setting (fixed per maker or P1, or "auto" trying each line setting), opening the UART, and an IRQ that never runs.
# Shared: runs under pytest and under the MicroPython unix port (mpy_runner.py).

import json
import os

from ringbuf import RingBuffer
from serial_port import FRAMING, IrqWatch, SerialChoice, reconfigure, text
from uart_open import lines, open_uart, uart_options

_PATH = "/tmp/han-test-serial.json"


def _fresh():
    try:
        os.remove(_PATH)
    except OSError:
        pass


_P1_BOARD = {"uart": {"id": 2, "rx": 16, "tx": None, "invert_rx": False}, "p1": {"invert_rx": True, "data_request_pin": None}}


def _choice(setting, path, try_ms=25000):
    return SerialChoice(setting, lines(setting, _P1_BOARD), path, try_ms)


def test_each_maker_has_its_framing_and_p1_its_own_speed_and_inversion():
    assert FRAMING == {"aidon": "8E1", "kaifa": "8E1", "landisgyr": "8E1", "kamstrup": "8N1", "mbus": "8E1", "p1": "8N1"}
    choice = _choice("kamstrup", _PATH)
    assert choice.line == (2400, "8N1", False) and choice.settled and choice.check(0) is None
    assert _choice("p1", _PATH).line == (115200, "8N1", True)  # the board's p1.invert_rx
    assert text((115200, "8N1", True)) == "115200 8N1 inverted" and text((2400, "8E1", False)) == "2400 8E1"


def test_auto_tries_each_line_setting_in_turn_and_keeps_the_one_that_works():
    _fresh()
    choice = _choice("auto", _PATH, 0)
    assert choice.line == (2400, "8E1", False) and not choice.settled
    tried = [choice.check(0) for _ in range(6)]  # nothing valid anywhere: round and round
    assert tried == [(2400, "8N1", False), (115200, "8N1", True), (115200, "8N1", False), (2400, "8E1", True),
                     (2400, "8N1", True), (2400, "8E1", False)]
    assert choice.check(0) == (2400, "8N1", False) and choice.check(0) == (115200, "8N1", True)
    assert choice.check(3) is None and choice.settled and choice.line == (115200, "8N1", True)
    again = _choice("auto", _PATH, 0)  # the next boot starts with what worked
    assert again.line == (115200, "8N1", True) and again.order[1:3] == [(2400, "8E1", False), (2400, "8N1", False)]


def test_a_setting_saved_before_p1_still_starts_the_next_boot():
    with open(_PATH, "w") as f:
        json.dump({"framing": "8N1"}, f)
    assert _choice("auto", _PATH).line == (2400, "8N1", False)
    with open(_PATH, "w") as f:
        f.write("[1, 2")
    assert _choice("auto", _PATH).line == (2400, "8E1", False)  # unreadable: the usual order


def test_auto_waits_before_giving_up_on_a_setting():
    _fresh()
    choice = _choice("auto", _PATH)  # 25 s per try: list 2 comes every 10 s
    assert choice.check(0) is None and choice.line == (2400, "8E1", False)


# --- opening the UART, and an IRQ that never runs (MicroPython v1.24.0-v1.25.0) ---

_BOARDS = (__file__.rsplit("/", 1)[0] if "/" in __file__ else ".") + "/../boards"
_DEVKITC = {"uart": {"id": 2, "rx": 16, "tx": None, "invert_rx": False}}
_8E1 = (2400, "8E1", False)


class Uart:
    # machine.UART of the ESP32 with timeout=0: bytes wait in the driver (any()) until read.
    # deaf=True is v1.24.0-v1.25.0 opened with rxbuf=: irq() accepts the handler and never calls it.
    IRQ_RX = 1
    INV_RX = 4
    made = []  # the keyword arguments of each UART() call
    refuse_no_tx = False  # MicroPython 1.28 and older: tx=-1 is an invalid pin

    def __init__(self, id, **options):
        if options.get("tx") == -1 and Uart.refuse_no_tx:
            raise ValueError("invalid pin")
        Uart.made.append(options)
        self.driver = bytearray()
        self.handler = None
        self.deaf = False

    def irq(self, handler=None, trigger=0):
        self.handler = handler

    def init(self, **line):
        self.line = line

    def any(self):
        return len(self.driver)

    def readinto(self, buf, nbytes=-1):
        n = min(len(buf) if nbytes < 0 else nbytes, len(self.driver))
        if not n:
            return None
        buf[:n] = self.driver[:n]
        self.driver = self.driver[n:]
        return n

    def receive(self, data):
        self.driver += data
        if self.handler and not self.deaf:
            self.handler(self)


def test_rxbuf_is_left_out_on_the_releases_where_it_silences_the_irq():
    for version in ((1, 24, 0), (1, 24, 1), (1, 25, 0)):
        assert "rxbuf" not in uart_options(_DEVKITC, _8E1, version)
    for version in ((1, 23, 0), (1, 26, 0), (1, 27, 0), (1, 29, 0)):
        assert uart_options(_DEVKITC, _8E1, version)["rxbuf"] == 2048
    options = uart_options(_DEVKITC, (2400, "8N1", False), (1, 26, 0))
    assert options["rx"] == 16 and options["parity"] is None and options["baudrate"] == 2400 and "tx" not in options
    options = uart_options(_DEVKITC, (115200, "8N1", True), (1, 26, 0))
    assert options["baudrate"] == 115200 and options["parity"] is None


def test_a_listen_only_board_asks_for_no_tx_pin_and_older_releases_still_open_it():
    Uart.made = []
    Uart.refuse_no_tx = False
    open_uart(_DEVKITC, _8E1, Uart, (1, 29, 0))
    assert Uart.made[-1]["tx"] == -1  # unrouted
    Uart.made = []
    Uart.refuse_no_tx = True  # 1.26-1.28: the driver keeps the UART's default TX pin
    uart = open_uart(_DEVKITC, _8E1, Uart, (1, 26, 0))
    assert isinstance(uart, Uart) and len(Uart.made) == 1 and "tx" not in Uart.made[0] and "invert" not in Uart.made[0]
    Uart.refuse_no_tx = False
    Uart.made = []
    open_uart({"uart": {"id": 2, "rx": 39, "tx": 33, "invert_rx": True}}, (2400, "8E1", True), Uart, (1, 26, 0))
    assert Uart.made[-1]["tx"] == 33 and Uart.made[-1]["invert"] == Uart.INV_RX
    uart.init(baudrate=9600)
    reconfigure(uart, (115200, "8N1", True))  # auto moving on to P1: speed, parity and inversion follow
    assert uart.line == {"baudrate": 115200, "bits": 8, "parity": None, "stop": 1, "invert": Uart.INV_RX}
    reconfigure(uart, (2400, "8E1", False))
    assert uart.line["baudrate"] == 2400 and uart.line["parity"] == 0 and uart.line["invert"] == 0


def test_only_the_wt32_eth01_profile_names_a_tx_pin():
    for name in ("esp32-devkitc", "esp32c3-devkitm1", "esp32s2-mini", "esp32s3", "wt32-eth01"):
        with open("%s/%s.json" % (_BOARDS, name)) as f:
            tx = json.load(f)["uart"]["tx"]
        assert tx == (33 if name == "wt32-eth01" else None), name  # GPIO17 is PSRAM on a WROVER DevKitC


def test_an_irq_that_never_runs_is_replaced_by_polling_and_said():
    uart = Uart(2)
    uart.deaf = True
    ring = RingBuffer(256)
    watch = IrqWatch(ring, uart)
    said = []
    assert watch.irq  # irq() took the handler: RingBuffer.attach cannot tell
    sent = 0
    while watch.check(said.append):  # once a second in the app
        uart.receive(b"\x7e\xa0\x27")
        sent += 3
        assert sent < 30, "still waiting on an IRQ that never runs"
    assert not watch.irq and ring.received == 0 and len(said) == 1 and "polling" in said[0]
    assert uart.handler is None  # taken off the UART: one producer only
    ring.poll()
    buf = bytearray(64)
    assert ring.get(buf) == sent and buf[:3] == b"\x7e\xa0\x27"  # nothing the driver held is lost
    assert not watch.check(said.append) and len(said) == 1


def test_a_working_irq_and_a_quiet_line_keep_the_irq():
    uart = Uart(2)
    ring = RingBuffer(256)
    watch = IrqWatch(ring, uart)
    said = []
    for _ in range(10):
        uart.receive(b"\x7e\x01")
        ring.get(bytearray(64))
        assert watch.check(said.append)
    deaf = Uart(2)
    deaf.deaf = True
    quiet = IrqWatch(RingBuffer(256), deaf)
    for _ in range(10):  # nothing in the driver: nothing says the IRQ is broken
        assert quiet.check(said.append)
    assert said == []


def test_bytes_a_full_ring_left_in_the_driver_are_no_sign_of_a_dead_irq():
    # the handler takes only what the ring has room for; the rest waits for the next bytes' IRQ,
    # which may be up to 10 s away (list 2 only, as Kamstrup sends)
    uart = Uart(2)
    ring = RingBuffer(16)
    watch = IrqWatch(ring, uart)
    uart.receive(bytes(40))  # the ring takes 15, 25 wait in the driver
    assert ring.any() == 15 and uart.any() == 25
    ring.get(bytearray(64))  # the loop empties the ring; no new bytes, so no IRQ yet
    said = []
    for _ in range(12):
        assert watch.check(said.append)
    uart.receive(b"\x7e")  # the next list: the IRQ runs and takes what waited
    assert watch.check(said.append) and said == [] and ring.any() == 15
