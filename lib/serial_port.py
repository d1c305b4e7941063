# serial_port.py Provides the meter's serial setting: opening the board's UART, and "auto" trying 8E1 then 8N1.
# MIT license

import json
import time

BAUD = 2400
_RXBUF = 2048  # the driver's own ring: 8.5 s more of slack behind ours
_TRY_MS = 25000  # without a good frame for this long, try the next setting (list 2 comes every 10 s)

# Aidon, Kaifa and Landis+Gyr send 2400 8E1; Kamstrup 2400 8N1
FRAMING = {"aidon": "8E1", "kaifa": "8E1", "landisgyr": "8E1", "kamstrup": "8N1"}
_PARITY = {"8E1": 0, "8N1": None}  # machine.UART: parity 0 is even


def open_uart(board, framing):
    uart = board["uart"]
    if uart["id"] == "host":
        import os
        from host_uart import HostUart

        return HostUart(os.getenv("HAN_UART") or "127.0.0.1:7700")
    from machine import UART

    options = {"baudrate": BAUD, "bits": 8, "parity": _PARITY[framing], "stop": 1, "rx": uart["rx"]}
    options.update(rxbuf=_RXBUF, timeout=0, timeout_char=0)
    if uart.get("tx") is not None:
        options["tx"] = uart["tx"]
    if uart.get("invert_rx"):
        options["invert"] = UART.INV_RX
    return UART(uart["id"], **options)


def reconfigure(port, framing):
    if hasattr(port, "init"):
        port.init(baudrate=BAUD, bits=8, parity=_PARITY[framing], stop=1)


class SerialChoice:
    # The setting in use. "auto" tries each framing in turn until a frame passes its checksum,
    # then keeps it, and remembers it in `path` so the next boot starts right.
    def __init__(self, setting, path="serial.json", try_ms=_TRY_MS):
        self.path = path
        self.try_ms = try_ms
        self.auto = setting == "auto"
        order = ["8E1", "8N1"]
        if self.auto:
            saved = _read(path)
            if saved in order:
                order.remove(saved)
                order.insert(0, saved)
        else:
            order = [FRAMING[setting]]
        self.order = order
        self.index = 0
        self.settled = not self.auto
        self._since = time.ticks_ms()
        self._ok = 0

    @property
    def framing(self):
        return self.order[self.index]

    def check(self, frames_ok):
        # call now and then with the assembler's frames_ok; returns a framing to switch to, or None
        if self.settled:
            return None
        if frames_ok > self._ok:
            self.settled = True
            _write(self.path, self.framing)
            return None
        if time.ticks_diff(time.ticks_ms(), self._since) < self.try_ms:
            return None
        self.index = (self.index + 1) % len(self.order)
        self._since = time.ticks_ms()
        self._ok = frames_ok
        return self.framing


def _read(path):
    try:
        with open(path) as f:
            return json.load(f).get("framing")
    except (OSError, ValueError, AttributeError):
        return None


def _write(path, framing):
    try:
        with open(path, "w") as f:
            json.dump({"framing": framing}, f)
    except OSError:
        pass  # read-only or full flash: auto-detection simply runs again next boot
