# config.py Provides load(): config.json read and checked field by field, with defaults, never raising.
# MIT license
#
# A bad config must not stop the meter from being read: load() always returns a usable config
# plus a list of messages, each naming the field. Secrets are never part of a message.

import json
from micropython import const

SERIAL_SETTINGS = ("auto", "aidon", "kaifa", "kamstrup", "landisgyr", "mbus", "p1")
MAX_FILE = 8192  # bytes of config.json read at all: a larger file is refused before parsing
SECRETS = ("wifi.password", "mqtt.password", "meter.key", "meter.auth_key")
# sections checked elsewhere, and kept out of the config the App holds: "admin" (the settings page's
# password hash, lib/setup_form.py reads it from the file when it needs it)
_ELSEWHERE = ("admin",)

_STR = "a string"
_INT = "a whole number"
_BOOL = "true or false"
_KW_LIST = "a list of kW thresholds, rising"
_KEY = "32 hex digits"  # an AES-128 key as the grid company gives it
TARIFF_RULES = ("three_days", "single_hour")
ACCOUNTING_MODES = ("auto", "on", "off")
_THRESHOLDS_MAX = const(20)

# (field, what it must be, default, required); a default of None means "not set"
SCHEMA = (
    ("board", _STR, "esp32-devkitc", False),
    ("meter.serial", _STR, "auto", False),
    ("meter.kamstrup_energy_wh", _BOOL, False, False),
    ("meter.key", _KEY, None, False),  # encrypted meters: the encryption key (GUEK)
    ("meter.auth_key", _KEY, None, False),  # and the authentication key (GAK): frames' tags are checked
    ("wifi.ssid", _STR, None, True),
    ("wifi.password", _STR, "", False),
    ("wifi.reset_after_s", _INT, 900, False),
    ("mqtt.host", _STR, None, True),
    ("mqtt.port", _INT, 1883, False),
    ("mqtt.user", _STR, None, False),
    ("mqtt.password", _STR, None, False),
    ("mqtt.client_id", _STR, None, False),
    ("mqtt.prefix", _STR, None, False),
    ("mqtt.tls", _BOOL, False, False),
    ("mqtt.ca_file", _STR, None, False),
    ("mqtt.raw", _BOOL, False, False),
    ("mqtt.keepalive_s", _INT, 60, False),
    ("discovery.enabled", _BOOL, True, False),
    ("discovery.prefix", _STR, "homeassistant", False),
    ("watchdog.enabled", _BOOL, True, False),
    ("watchdog.timeout_s", _INT, 60, False),
    ("watchdog.start_after_s", _INT, 120, False),
    ("http.port", _INT, 80, False),
    ("tariff.thresholds_kw", _KW_LIST, [2, 5, 10, 15, 20, 25, 50, 75, 100], False),  # docs/energy-norway.md
    ("tariff.preset", _STR, None, False),  # a grid company's thresholds (lib/tariff_presets.py)
    ("tariff.rule", _STR, "three_days", False),
    ("tariff.accounting", _STR, "auto", False),  # auto: on where the heap has room (lib/app.py)
)

# longest accepted text per field (the 802.11 and MQTT limits, or what any real value needs)
_LENGTHS = {"wifi.ssid": 32, "wifi.password": 64, "mqtt.host": 253, "mqtt.user": 128, "mqtt.password": 128,
            "mqtt.client_id": 64, "mqtt.prefix": 64, "mqtt.ca_file": 128, "discovery.prefix": 64, "board": 32}
_STR_MAX = const(64)
_HEX = "0123456789abcdefABCDEF"

_RANGES = {
    "mqtt.port": (1, 65535),
    "http.port": (1, 65535),
    "mqtt.keepalive_s": (10, 3600),
    "watchdog.timeout_s": (5, 3600),
    "watchdog.start_after_s": (0, 86400),
    "wifi.reset_after_s": (60, 86400),
}


def defaults():
    return {name: default for name, _, default, _ in SCHEMA}


def load(path="config.json", optional=()):
    # -> (config as a flat dict "group.field" -> value, [error messages]).
    # Fields in `optional` are not required (the host has no Wi-Fi).
    try:
        import os

        if os.stat(path)[6] > MAX_FILE:
            return defaults(), ["%s is larger than %d bytes: not read" % (path, MAX_FILE)]
        with open(path) as f:
            text = f.read()
    except OSError:
        return defaults(), ["%s not found: using defaults (copy config.example.json)" % path]
    try:
        data = json.loads(text)
    except ValueError:
        return defaults(), ["%s is not valid JSON: check commas, quotes and braces" % path]
    return check(data, optional)


def check(data, optional=()):
    cfg = defaults()
    errors = []
    if not isinstance(data, dict):
        return cfg, ["config must be a JSON object {...}"]
    _check_fields(data, cfg, errors, optional)
    _preset(data, cfg, errors)
    if cfg["mqtt.tls"] and not cfg["mqtt.ca_file"]:
        # without a CA the broker cannot be told from an impostor: refuse rather than send the password
        errors.append("mqtt.ca_file: missing (mqtt.tls needs the CA certificate that signed the broker's)")
    if cfg["meter.auth_key"] and not cfg["meter.key"]:
        errors.append("meter.key: missing (meter.auth_key is used only with the encryption key)")
    return cfg, errors


def _check_fields(data, cfg, errors, optional):
    known = [name for name, _, _, _ in SCHEMA]
    groups = [name.partition(".")[0] for name in known if "." in name]
    bad_groups = []
    for group, value in data.items():
        if group in _ELSEWHERE:
            continue
        if group in groups and not isinstance(value, dict):
            # "mqtt": "192.168.1.10" is a known section of the wrong type, not an unknown field
            bad_groups.append(group)
            shown = "" if group == "wifi" else "%s (got %s)" % (_example(group, value), _short(json.dumps(value)))
            errors.append("%s: must be an object {...} of %s.* fields%s" % (group, group, shown))
        elif isinstance(value, dict) and group in groups:
            for key in value:
                if group + "." + key not in known:
                    errors.append("%s.%s: unknown field" % (group, key))
        elif group not in known:
            errors.append("%s: unknown field" % group)
    for name, kind, default, required in SCHEMA:
        found, value = _get(data, name)
        if not found or value is None:
            if required and name not in optional and name.partition(".")[0] not in bad_groups:
                errors.append("%s: missing (it must be %s)" % (name, kind))
            continue
        problem = _problem(name, kind, value)
        if problem:
            shown = "" if name in SECRETS else " (got %s)" % _short(json.dumps(value))
            errors.append("%s: %s%s" % (name, problem, shown))
        else:
            cfg[name] = value


def _example(group, value):
    # a section given as its main field's value: show the form meant, e.g. {"host": "192.168.1.10"}
    # (not for wifi: its one string could be the password, which no message shows)
    first = {"mqtt": "host", "meter": "serial"}.get(group)
    if first and isinstance(value, str):
        return ", such as {%s: %s}" % (json.dumps(first), _short(json.dumps(value)))
    return ""


def _get(data, name):
    group, _, key = name.partition(".")
    if not key:
        return group in data, data.get(group)
    section = data.get(group)
    if not isinstance(section, dict):
        return False, None
    return key in section, section.get(key)


def _problem(name, kind, value):
    if kind == _STR and not isinstance(value, str):
        return "must be a string"
    if kind == _STR and len(value) > _LENGTHS.get(name, _STR_MAX):
        return "must be at most %d characters" % _LENGTHS.get(name, _STR_MAX)
    if kind == _BOOL and not isinstance(value, bool):
        return "must be true or false"
    if kind == _INT:
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be a whole number"
        low, high = _RANGES.get(name, (0, 1 << 30))
        if not low <= value <= high:
            return "must be from %d to %d" % (low, high)
    if kind == _KW_LIST:
        return _thresholds(value)
    if kind == _KEY and not (isinstance(value, str) and len(value) == 32 and all(c in _HEX for c in value)):
        return "must be 32 hex digits (16 bytes, as the grid company gives the key)"
    if name == "meter.serial" and value not in SERIAL_SETTINGS:
        return "must be one of " + ", ".join(SERIAL_SETTINGS)
    if name == "tariff.rule" and value not in TARIFF_RULES:
        return "must be one of " + ", ".join(TARIFF_RULES)
    if name == "tariff.preset" and _presets().steps(value) is None:
        return "must be one of " + ", ".join(_presets().NAMES)
    if name == "tariff.accounting" and value not in ACCOUNTING_MODES:
        return "must be one of " + ", ".join(ACCOUNTING_MODES)
    if name in ("wifi.ssid", "mqtt.host", "board") and not value:
        return "must not be empty"
    return None


def _thresholds(value):
    # the capacity steps' upper bounds in kW: whole or with up to 3 decimals (W), above 0, rising
    if not isinstance(value, list) or not 1 <= len(value) <= _THRESHOLDS_MAX:
        return "must be a list of 1 to %d thresholds in kW" % _THRESHOLDS_MAX
    last = 0
    for i in range(len(value)):
        w = kw_to_w(value[i])
        if w is None:
            return "item %d must be a number of kW with at most 3 decimals" % (i + 1)
        if w <= last:
            return "item %d must be above 0 and above the one before" % (i + 1)
        last = w
    return None


def _preset(data, cfg, errors):
    # tariff.preset's thresholds, unless tariff.thresholds_kw is given too: that one is used then,
    # and when it differs from the preset's, a message says which is (docs/accounting.md)
    name = cfg["tariff.preset"]
    if name is None:
        return
    since, kw = _presets().steps(name)
    found, value = _get(data, "tariff.thresholds_kw")
    if not found or value is None or _thresholds(value):
        cfg["tariff.thresholds_kw"] = kw
    elif [kw_to_w(v) for v in value] != [k * 1000 for k in kw]:
        errors.append("tariff.thresholds_kw: used as given, not tariff.preset %s's %s (valid from %s); leave one out"
                      % (name, json.dumps(kw), since))


def _presets():
    # lib/tariff_presets.py, not kept in RAM after the check
    import sys
    import tariff_presets

    sys.modules.pop("tariff_presets", None)
    return tariff_presets


def kw_to_w(v):
    # a kW value (2, 2.5) -> W exactly, or None; from its decimal text, not by float arithmetic
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if isinstance(v, int):
        return v * 1000 if v < 1 << 20 else None
    whole, _, frac = repr(v).partition(".")
    if not whole.isdigit() or not frac.isdigit() or len(frac) > 3 or len(whole) > 6:
        return None
    return int(whole) * 1000 + int((frac + "000")[:3])


def _short(text):
    return text if len(text) <= 40 else text[:37] + "..."


def public(cfg):
    # the config without secrets, for status pages and logs
    return {k: ("***" if k in SECRETS and v else v) for k, v in cfg.items()}
