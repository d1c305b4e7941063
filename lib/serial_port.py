# serial_port.py Provides the meter's serial setting: watching that the UART's IRQ runs, and "auto" trying each line setting in turn.
# MIT license
#
# Opening the board's UART, needed once at boot, is lib/uart_open.py's (imported for it and dropped).

import json
import sys
import time

from micropython import const

BAUD = 2400
P1_BAUD = 115200  # DSMR P1 (Sweden, Finland, the Netherlands, Belgium): 115200 8N1
_TRY_MS = const(25000)  # without a good frame for this long, try the next setting (list 2 comes every 10 s)
_DEAF_S = const(3)  # checks in a row with more and more bytes in the driver and none stored: the IRQ is not running
_STUCK_S = const(15)  # the same bytes waiting this long: longer than any meter waits between two lists

# Aidon, Kaifa and Landis+Gyr send 2400 8E1; Kamstrup 2400 8N1; M-Bus long frames (Austria, Poland) 2400 8E1;
# P1 meters 115200 8N1
FRAMING = {"aidon": "8E1", "kaifa": "8E1", "landisgyr": "8E1", "kamstrup": "8N1", "mbus": "8E1", "p1": "8N1"}
PARITY = {"8E1": 0, "8N1": None}  # machine.UART: parity 0 is even


class IrqWatch:
    # The ring is filled from the UART IRQ where the port has one (RingBuffer.attach). An IRQ can be
    # accepted and then never run (v1.24.0-v1.25.0 with rxbuf=): bytes then wait in the driver and
    # nobody reads them. check(), once a second: when the ring has stored nothing while the bytes
    # waiting in the driver grew, for _DEAF_S checks in a row, the ring polls the UART instead. Bytes
    # that merely wait (the handler leaves in the driver what a full ring cannot take, and runs
    # again with the next bytes) do not grow; if they wait past _STUCK_S, the IRQ is not running either.
    def __init__(self, ring, uart):
        self.ring = ring
        self.uart = uart
        self.irq = ring.attach(uart)
        self._received = -1
        self._overflow = -1
        self._deaf = 0
        self._waiting = 0

    def check(self, log):
        # returns whether the IRQ is (still) in use
        if not self.irq:
            return False
        ring = self.ring
        waiting = self.uart.any()
        # either count moves whenever the handler has run with bytes to read
        if ring.received != self._received or ring.overflow != self._overflow or not waiting:
            self._received = ring.received
            self._overflow = ring.overflow
            self._deaf = 0
            return True
        self._deaf += 1
        if self._deaf == 1:
            self._waiting = waiting
        if self._deaf < _DEAF_S or waiting <= self._waiting and self._deaf < _STUCK_S:
            return True
        ring.use_polling()
        self.irq = False
        log("serial: the UART IRQ never ran though bytes were waiting (MicroPython %s); reading the UART by polling instead"
            % ".".join(str(n) for n in sys.implementation.version[:3]))
        return False


def text(line):
    # "2400 8E1", "115200 8N1 inverted": for the log, the page and the diagnosis
    return "%d %s%s" % (line[0], line[1], " inverted" if line[2] else "")


def reconfigure(port, line):
    if hasattr(port, "init"):
        port.init(baudrate=line[0], bits=8, parity=PARITY[line[1]], stop=1, invert=port.INV_RX if line[2] else 0)


class SerialChoice:
    # The line setting in use. "auto" tries each of the board's lines in turn until a frame passes its
    # checksum, then keeps it, and remembers it in `path` so the next boot starts right.
    def __init__(self, setting, order, path="serial.json", try_ms=_TRY_MS):
        # order: uart_open.lines(setting, board)
        self.path = path
        self.try_ms = try_ms
        self.auto = setting == "auto"
        if self.auto:
            saved = _read(path)
            if saved in order:
                order.remove(saved)
                order.insert(0, saved)
        self.order = order
        self.index = 0
        self.settled = not self.auto
        self._since = time.ticks_ms()
        self._ok = 0

    @property
    def line(self):
        return self.order[self.index]

    def check(self, frames_ok):
        # call now and then with the frames passed so far; returns a line setting to switch to, or None
        if self.settled:
            return None
        if frames_ok > self._ok:
            self.settled = True
            _write(self.path, self.line)
            return None
        if time.ticks_diff(time.ticks_ms(), self._since) < self.try_ms:
            return None
        self.index = (self.index + 1) % len(self.order)
        self._since = time.ticks_ms()
        self._ok = frames_ok
        return self.line


def _read(path):
    try:
        with open(path) as f:
            saved = json.load(f)
        if "line" in saved:
            return tuple(saved["line"])
        return (BAUD, saved["framing"], False)  # written before P1: framing alone, at 2400
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return None


def _write(path, line):
    try:
        with open(path, "w") as f:
            json.dump({"line": line}, f)
    except OSError:
        pass  # read-only or full flash: auto-detection simply runs again next boot
