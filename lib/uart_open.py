# uart_open.py Provides open_uart(): the board's UART opened for the meter, with the options this MicroPython needs, and the line settings to try.
# MIT license
#
# Needed once, at boot: lib/app.py imports it for the call and drops it again (its code then takes no RAM).

import sys
from micropython import const

from serial_port import BAUD, P1_BAUD, FRAMING, PARITY

_RXBUF = const(2048)  # the driver's own ring: 9.4 s more of slack behind ours (2400 8E1 is 218 B/s; P1 0.18 s)


def lines(setting, board):
    # the line settings `setting` (meter.serial) tries, in order, as (baud, framing, inverted). The
    # RJ45 M-Bus port is read as the board's uart.invert_rx says, a P1 port as its p1.invert_rx
    # (P1's data line is open collector and inverted); "auto" tries each the other way round last
    inv = bool(board["uart"].get("invert_rx"))
    p1_inv = bool((board.get("p1") or {}).get("invert_rx"))
    if setting == "p1":
        return [(P1_BAUD, "8N1", p1_inv)]
    if setting != "auto":
        return [(BAUD, FRAMING[setting], inv)]
    return [(BAUD, "8E1", inv), (BAUD, "8N1", inv), (P1_BAUD, "8N1", p1_inv), (P1_BAUD, "8N1", not p1_inv),
            (BAUD, "8E1", not inv), (BAUD, "8N1", not inv)]


def open_uart(board, line, uart_class=None, version=None):
    # line: (baud, framing, inverted), one of lines()
    uart = board["uart"]
    if uart["id"] == "host":
        import os
        from host_uart import HostUart

        return HostUart(os.getenv("HAN_UART") or "127.0.0.1:7700")
    if uart_class is None:
        from machine import UART as uart_class
    options = uart_options(board, line, version or tuple(sys.implementation.version[:3]))
    if line[2]:
        options["invert"] = uart_class.INV_RX
    _data_request(board)
    if "tx" not in options:
        # A listen-only dongle needs no TX pin: -1 leaves it unrouted from MicroPython 1.29 on. Older
        # releases refuse -1 and put TX on the UART's default pin (GPIO17 on UART2, GPIO10 on UART1).
        try:
            return uart_class(uart["id"], tx=-1, **options)
        except ValueError:
            pass
    return uart_class(uart["id"], **options)


def _data_request(board):
    # A P1 meter sends only while its Data Request line is high: where the profile wires it to a pin,
    # raise that pin for good (the pin serves nothing else; an M-Bus meter ignores it)
    pin = (board.get("p1") or {}).get("data_request_pin")
    if pin is not None:
        from machine import Pin

        Pin(pin, Pin.OUT, value=1)


def uart_options(board, line, version):
    # machine.UART's keyword arguments for the board on MicroPython `version` (a tuple), inversion aside
    uart = board["uart"]
    options = {"baudrate": line[0], "bits": 8, "parity": PARITY[line[1]], "stop": 1, "rx": uart["rx"],
               "timeout": 0, "timeout_char": 0}
    if not (1, 24, 0) <= tuple(version[:3]) < (1, 26, 0):
        options["rxbuf"] = _RXBUF  # v1.24.0-v1.25.0: rxbuf= reinstalls the driver without its event queue, and the IRQ never runs
    if uart.get("tx") is not None:
        options["tx"] = uart["tx"]
    return options
