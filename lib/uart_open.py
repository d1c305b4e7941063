# uart_open.py Provides open_uart(): the board's UART opened for the meter, with the options this MicroPython needs.
# MIT license
#
# Needed once, at boot: lib/app.py imports it for the call and drops it again (its code then takes no RAM).

import sys
from micropython import const

from serial_port import BAUD, PARITY

_RXBUF = const(2048)  # the driver's own ring: 9.4 s more of slack behind ours (2400 8E1 is 218 B/s)


def open_uart(board, framing, uart_class=None, version=None):
    uart = board["uart"]
    if uart["id"] == "host":
        import os
        from host_uart import HostUart

        return HostUart(os.getenv("HAN_UART") or "127.0.0.1:7700")
    if uart_class is None:
        from machine import UART as uart_class
    options = uart_options(board, framing, version or tuple(sys.implementation.version[:3]))
    if uart.get("invert_rx"):
        options["invert"] = uart_class.INV_RX
    if "tx" not in options:
        # A listen-only dongle needs no TX pin: -1 leaves it unrouted from MicroPython 1.29 on. Older
        # releases refuse -1 and put TX on the UART's default pin (GPIO17 on UART2, GPIO10 on UART1).
        try:
            return uart_class(uart["id"], tx=-1, **options)
        except ValueError:
            pass
    return uart_class(uart["id"], **options)


def uart_options(board, framing, version):
    # machine.UART's keyword arguments for the board on MicroPython `version` (a tuple)
    uart = board["uart"]
    options = {"baudrate": BAUD, "bits": 8, "parity": PARITY[framing], "stop": 1, "rx": uart["rx"],
               "timeout": 0, "timeout_char": 0}
    if not (1, 24, 0) <= tuple(version[:3]) < (1, 26, 0):
        options["rxbuf"] = _RXBUF  # v1.24.0-v1.25.0: rxbuf= reinstalls the driver without its event queue, and the IRQ never runs
    if uart.get("tx") is not None:
        options["tx"] = uart["tx"]
    return options
