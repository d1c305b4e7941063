# update_http.py Provides handle(): the HTTP endpoints of an update, POST /api/update (the bundle as the body) and POST /api/fetch (an http:// URL as the body).
# MIT license
#
# Imported for one request and dropped. Until the settings page's login guards these, a request
# must carry ?key=<the text of update_key.txt> (in the state folder); without that file the
# endpoints are off. The meter is read between the pieces of a bundle (app.drain), and the board
# restarts into the new app a few seconds after the answer has gone out.
from micropython import const

_URL_MAX = const(200)


def handle(app, sock, target, first):
    # -> (status, content type, body)
    path, _, query = target.decode().partition("?")
    if not _allowed(app.state_dir, query):
        return 403, "text/plain", b"update: forbidden (a key= matching update_key.txt is needed)\n"
    import updater

    try:
        if path == "/api/fetch":
            url = bytes(first)
            while b"\n" not in url and len(url) < _URL_MAX:
                more = sock.recv(_URL_MAX - len(url))
                if not more:
                    break
                url += more
            message = updater.fetch(url.decode().strip(), app.drain)
        else:
            message = updater.receive(sock.readinto, first, app.drain)
    except updater.UpdateError as e:
        app.log("update: refused: %s" % e)
        return 400, "text/plain", ("update refused: %s\n" % e).encode()
    app.log("update: " + message + "; restarting")
    app.restart_in(3)
    return 200, "text/plain", ("update: %s; restarting\n" % message).encode()


def _allowed(state_dir, query):
    try:
        with open(state_dir + "/update_key.txt") as f:
            key = f.read().strip()
    except OSError:
        return False
    for part in query.split("&"):
        if key and part == "key=" + key:
            return True
    return False
