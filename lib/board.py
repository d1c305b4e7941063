# board.py Provides load(): a board profile from boards/<name>.json, checked, with its problems named.
# MIT license

import json

_ARCHES = ("xtensawin", "rv32imc", "x64")


def load(name, directory="boards"):
    # -> (profile dict, [error messages]); a broken profile falls back to the host-less defaults
    path = "%s/%s.json" % (directory, name)
    try:
        with open(path) as f:
            profile = json.load(f)
    except OSError:
        return None, ["board %s: %s not found" % (name, path)]
    except ValueError:
        return None, ["board %s: %s is not valid JSON" % (name, path)]
    errors = []
    uart = profile.get("uart")
    if not isinstance(uart, dict) or "id" not in uart:
        errors.append("board %s: uart.id missing" % name)
    elif uart["id"] != "host":
        if not isinstance(uart.get("rx"), int):
            errors.append("board %s: uart.rx must be a pin number" % name)
        tx = uart.get("tx")
        if tx is not None and not isinstance(tx, int):
            errors.append("board %s: uart.tx must be null (listen only) or a pin number" % name)
        elif tx is None and uart["id"] == 1 and profile.get("chip") == "esp32":
            # before MicroPython 1.29 a UART always has a TX pin: UART1's default, GPIO10, is a flash pin here
            errors.append("board %s: uart.tx: UART1 of an ESP32 needs a TX pin named (its default, GPIO10, is a flash pin)" % name)
    p1 = profile.get("p1")  # a DSMR P1 port (docs/firmware.md, "P1 meters"): data only so far
    if p1 is not None and (not isinstance(p1, dict) or not isinstance(p1.get("invert_rx", False), bool)
                           or not isinstance(p1.get("data_request_pin", 0), (int, type(None)))):
        errors.append("board %s: p1 must be null or {\"invert_rx\": bool, \"data_request_pin\": null or a pin number}" % name)
    if profile.get("arch") not in _ARCHES:
        errors.append("board %s: arch must be one of %s" % (name, ", ".join(_ARCHES)))
    led = profile.get("led")
    if led is not None and not isinstance(led.get("pin") if isinstance(led, dict) else None, int):
        errors.append("board %s: led must be null or {\"pin\": n, \"active_low\": bool}" % name)
    pin = profile.get("safe_boot_pin")
    if pin is not None and not isinstance(pin, int):
        errors.append("board %s: safe_boot_pin must be null or a pin number" % name)
    return (None if errors else profile), errors


def is_host(profile):
    return profile is not None and profile["uart"]["id"] == "host"
