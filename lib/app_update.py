# app_update.py Provides the app's side of updates: start() and tick() (the trial of a new app, and a restart asked for), receive() and fetch() (POST /settings/update and /settings/fetch).
# MIT license
#
# Imported only where there is something to do: at boot when an update's pointer exists (a dongle
# that was never updated loads none of this), each second while a new app is on trial or a restart
# is due, and for one update request; dropped after. Which app runs, and going back, are
# firmware/app_slot.py's (beside main.py, not part of any app).
#
# The trial: a new app proves itself by a message decoded, or by a quiet meter (no byte at all)
# with Wi-Fi and MQTT up, after the start-up's grace time; not proved within HAN_TRIAL_S (300 s),
# it goes back to the previous app and resets. The result is in /api/status ("update") and, for a
# rollback, in last_error, which diag carries over MQTT.
#
# An update is a request of the settings page, behind its login: lib/form_req.py checks the session,
# the CSRF token and the origin before it hands the request here. The meter is read between the pieces
# of a bundle (App.feed_uart), and the board restarts into the new app 3 s after answering.
import os
from micropython import const

import clock

_TRIAL_S = const(300)


def state():
    # {"app", "previous", "state", "note"} of firmware/app_slot.py's pointer, or None (no pointer, or no app_slot)
    try:
        p = _slots().read()
    except ImportError:  # the App run without main.py (a test of it alone): lib/ is the app
        return None
    return {"app": p[0], "previous": p[1], "state": p[2], "note": p[4]}


def start(app):
    # app.update: [state(), the trial's end (clock.seconds()) or None, a restart's time or None]
    u = state()
    app.update = [u, None, None] if u else None
    if u and u["state"] == "trial":
        app.update[1] = clock.seconds() + _trial_s()
    elif u and u["note"].startswith("rolled back"):
        app.last_error = u["note"]  # on the page, and in diag over MQTT
        app.log("update: " + u["note"])


def tick(app, now):
    # once a second while a trial runs or a restart is due (now: clock.seconds())
    u = app.update
    if u[2] and now >= u[2]:
        return _reset()
    if not u[1] or now <= app.grace_s:
        return
    d = app.decoded()
    if d or (app.ring.received == 0 and app.link.up and app.mqtt.state in ("connected", "not configured")):
        u[1] = None
        _slots().commit("version %s proved itself on trial: %s" % (_version(), "%d messages decoded" % d if d else
                                                                      "the meter is quiet, Wi-Fi and MQTT are up"))
        u[0] = state()
        app.log("update: " + u[0]["note"])
    elif now >= u[1]:
        why = ("%d bytes from the meter, no message decoded" % app.ring.received if app.ring.received else
               "no meter bytes, and Wi-Fi or MQTT not up (MQTT %s)" % app.mqtt.state)
        _slots().rollback("version %s did not prove itself within %d s: %s" % (_version(), _trial_s(), why))
        app.log("update: " + state()["note"] + "; restarting")
        _reset()


def receive(app, sock, first):
    # POST /settings/update, its session and CSRF token checked (lib/form_req.py): the bundle is the body, read
    # from the socket with a timeout for each read, and the socket left non-blocking again; first: the body's
    # bytes read with the headers -> (HTTP status, answer)
    try:
        sock.settimeout(5)
        return _update(app, lambda updater: updater.receive(sock.readinto, first, app.feed_uart))
    finally:
        sock.setblocking(False)


def fetch(app, url):
    # POST /settings/fetch (a form with url=, checked as /settings/update): the bundle from an http:// URL
    return _update(app, lambda updater: updater.fetch(url.strip(), app.feed_uart))


def _update(app, work):
    import sys

    import updater

    try:
        message = work(updater)
    except updater.UpdateError as e:
        app.log("update: refused: %s" % e)
        return 400, {"error": "update refused: %s" % e}
    except Exception as e:  # MemoryError above all: answer, keep serving
        return 500, {"error": "update: error: %r" % e}
    finally:
        sys.modules.pop("updater", None)
    app.log("update: " + message + "; restarting")
    if app.update is None:
        app.update = [state(), None, None]
    app.update[2] = clock.seconds() + 3
    return 200, {"ok": True, "message": "update: %s; restarting" % message}


def _version():
    from app import VERSION

    return VERSION


def _trial_s():
    getenv = getattr(os, "getenv", None)  # the unix port's tests shorten it; the ESP32 has no environment
    return int((getenv("HAN_TRIAL_S") if getenv else None) or _TRIAL_S)


def _slots():
    import sys

    import app_slot

    sys.modules.pop("app_slot", None)
    return app_slot


def _reset():
    _slots().reset()  # firmware/app_slot.py's: machine.reset(), or the end of the process on the unix port
