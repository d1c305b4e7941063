# setup_form.py Provides state() and action(): the setup and settings form: its values, checking it with config.py, saving config.json and applying it.
# MIT license
#
# Imported for one request and dropped (lib/form_req.py). The form is checked by config.check, the
# same code as config.json at boot, and each message goes back next to the field it names. Secrets
# (the passwords) are never sent to the browser: the page learns only whether one is set, and a
# blank field keeps the value. config.json is written whole beside the old one and renamed over it,
# the old one kept as config.json.bak, so a power cut leaves one or the other, never half a file.
# A new broker, Wi-Fi network or serial setting is applied at once, in the loop's own pass (no
# restart, no frame lost); the board and the rest of config.json take a restart.

import json
import os
import sys

FIELDS = ("wifi.ssid", "wifi.password", "mqtt.host", "mqtt.port", "mqtt.user", "mqtt.password", "mqtt.tls",
          "mqtt.ca_file", "meter.serial", "board")
_SECRETS = ("wifi.password", "mqtt.password")
_INTS = ("mqtt.port",)
_BOOLS = ("mqtt.tls",)
_ADMIN_MIN = 8  # characters of an admin password


def _paths(app):
    # (config.json, boards folder, state folder), set by lib/boot_guard.py
    return getattr(app, "paths", ("config.json", "boards", "."))


def _raw(app):
    # config.json as it is on flash (fields the form does not show are kept as they are)
    try:
        with open(_paths(app)[0]) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def admin_hash(app):
    admin = _raw(app).get("admin")
    return admin.get("password_hash") if isinstance(admin, dict) else None


def _boards(app):
    try:
        return sorted(n[:-5] for n in os.listdir(_paths(app)[1]) if n.endswith(".json"))
    except OSError:
        return []


def state(app, setup, authed):
    # what the page shows: no secret, ever
    import form_req

    s = {"mode": "setup" if setup else "settings", "device_id": app.device_id, "admin_set": bool(admin_hash(app))}
    link = getattr(app, "setup", None)
    if link is not None:
        s.update(link.info())
    if not (setup or authed):
        s["authed"] = False
        return s
    cfg = app.cfg
    s["authed"] = True
    s["csrf"] = None if setup else form_req.csrf(app)
    s["values"] = {k: cfg.get(k) for k in FIELDS if k not in _SECRETS}
    s["secrets_set"] = {k: bool(cfg.get(k)) for k in _SECRETS}
    s["boards"] = _boards(app)
    import config

    s["serials"] = config.SERIAL_SETTINGS
    sys.modules.pop("config", None)
    s["config_errors"] = app.errors
    return s


def action(app, name, fields, setup):
    # -> (HTTP status, answer)
    if name == "save":
        return _save(app, fields, setup)
    if name == "scan" and setup:
        app.setup.scan()
        return 200, {"networks": app.setup.networks}
    if name == "restart" and not setup:
        import restart_later

        app.link = restart_later.Later(app.link)
        sys.modules.pop("restart_later", None)
        return 200, {"ok": True, "message": "restarting in a second"}
    if name == "reopen" and not setup:
        import setup_mode

        setup_mode.start(app, "asked for on the settings page")
        sys.modules.pop("setup_mode", None)
        return 200, {"ok": True, "message": "the access point %s is open" % app.setup.essid}
    if name == "fetch" and not setup:  # an app update from a URL (docs/updates.md)
        import app_update

        sys.modules.pop("app_update", None)
        return app_update.fetch(app, fields.get("url", ""))
    return 404, {"error": "no such action"}


def _save(app, fields, setup):
    import config

    data = _raw(app)
    old = dict(app.cfg)
    for name in FIELDS:
        if name not in fields:
            continue
        value = fields[name]
        if name in _SECRETS and value == "":
            continue  # blank keeps the value
        if name in _INTS and value.strip().isdigit():
            value = int(value)
        elif name in _BOOLS:
            value = value in ("true", "on", "1")
        elif value == "" and name not in ("wifi.ssid", "mqtt.host", "board"):
            value = None  # not set
        group, _, key = name.partition(".")
        if not key:  # a top-level field (board)
            data[group] = value
            continue
        section = data.get(group)
        if not isinstance(section, dict):
            section = data[group] = {}
        if value is None:
            section.pop(key, None)
        else:
            section[key] = value
    cfg, errors = config.check(data, optional=())
    board_name = data.get("board")
    sys.modules.pop("config", None)
    problems = {}
    for e in errors:
        name = e.split(":", 1)[0]
        if name in FIELDS or name.partition(".")[0] in ("wifi", "mqtt", "meter") and name.find(".") < 0:
            problems.setdefault(name, e)
    if isinstance(board_name, str) and board_name and board_name not in _boards(app):
        problems["board"] = "board: no profile named %s in boards/" % board_name
    new_admin = fields.get("admin.password", "")
    if new_admin and len(new_admin) < _ADMIN_MIN:
        problems["admin.password"] = "admin.password: must be at least %d characters" % _ADMIN_MIN
    if not new_admin and not admin_hash(app):
        problems["admin.password"] = "admin.password: missing (choose one: it guards /settings)"
    if problems:
        return 400, {"errors": problems}
    if new_admin:
        import form_req

        data.setdefault("admin", {})["password_hash"] = form_req.hash_password(new_admin)
    _write(_paths(app)[0], data)
    later = _apply(app, old, cfg, errors, setup)
    app.log("settings: config.json saved (the previous one is config.json.bak)")
    return 200, {"saved": True, "restart_for": later, "warnings": errors}


def _write(path, data):
    # the new file whole beside the old, then renamed over it: a cut leaves the old or the new file
    text = json.dumps(data)
    with open(path + ".tmp", "w") as f:
        f.write(text)
    try:
        with open(path) as f, open(path + ".bak", "w") as b:
            while True:
                chunk = f.read(256)
                if not chunk:
                    break
                b.write(chunk)
    except OSError:
        pass  # no previous file
    os.rename(path + ".tmp", path)


def _apply(app, old, cfg, errors, setup):
    # in this loop pass: a new Wi-Fi network, broker or serial setting; the names of what needs a restart
    getenv = getattr(os, "getenv", None)
    if getenv and getenv("HAN_HTTP_PORT"):
        cfg["http.port"] = old["http.port"]  # the unix port's override wins, as at boot
    later = [k for k in ("board", "meter.kamstrup_energy_wh", "http.port") if old.get(k) != cfg[k]]
    for k in later:
        cfg[k] = old[k]  # what runs until the restart
    app.cfg, app.errors = cfg, errors
    if old.get("wifi.ssid") != cfg["wifi.ssid"] or old.get("wifi.password") != cfg["wifi.password"] or setup:
        if getattr(app, "setup", None) is not None:
            app.setup.join(cfg["wifi.ssid"], cfg["wifi.password"])
        else:
            from wifi import WifiLink

            generation = app.link.generation
            app.link = WifiLink(cfg["wifi.ssid"], cfg["wifi.password"], cfg["wifi.reset_after_s"], app.link.reset, wlan=app.link.wlan)
            app.link.generation = generation  # the next link is a new one for MQTT
    if [k for k in cfg if k.startswith("mqtt.") and old.get(k) != cfg[k]] or setup:
        from mqtt_pub import Publisher

        pub = app.mqtt
        if pub.client is not None:
            pub.client.close()
        unsafe = any(e.startswith("mqtt.ca_file:") for e in errors)
        app.mqtt = Publisher(cfg, app.device_id, pub.version, app.log, unsafe=unsafe, state_dir=_paths(app)[2])
        app.mqtt.meter, app.mqtt.meter_json, app.mqtt.fields = pub.meter, pub.meter_json, pub.fields
        app.diag_connects = -1
    app.mqtt.set_config_errors(errors)
    if old.get("meter.serial") != cfg["meter.serial"]:
        from serial_port import SerialChoice
        from uart_open import lines

        app.serial = SerialChoice(cfg["meter.serial"], lines(cfg["meter.serial"], app.profile), app.serial.path, app.serial.try_ms)
        sys.modules.pop("uart_open", None)
        # the readers count good frames from zero again, as the new choice does: frames that passed at
        # the old setting would settle "auto" on its first try, whatever the meter sends. The readers
        # themselves stay, with any frame they are halfway through
        for f in app.framers:
            f.frames_ok = 0
        app.use_line(cfg["meter.serial"])
    return later
