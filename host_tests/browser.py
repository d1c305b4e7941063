# browser.py Provides Browser: headless Chromium driven over the DevTools protocol, to fill in and submit forms as a user does.
# The protocol's websocket is ha.py's small client; Chromium is the Debian package (`make` installs it).

import json
import os
import shutil
import subprocess
import time
import urllib.request

from ha import WebSocket
from harness import wait_until

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class Browser:
    def __init__(self, tmp):
        self.profile = os.path.join(str(tmp), "chromium-cdp")
        args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                "--remote-debugging-port=0", "--user-data-dir=" + self.profile, "about:blank"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        wait_until(lambda: os.path.exists(port_file) and open(port_file).read().count("\n") >= 1, 60, "Chromium's DevTools port")
        self.port = int(open(port_file).read().split()[0])
        pages = json.loads(urllib.request.urlopen("http://127.0.0.1:%d/json/list" % self.port, timeout=10).read())
        page = [p for p in pages if p["type"] == "page"][0]
        self.ws = WebSocket(self.port, "/devtools/page/" + page["id"])
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send({"id": self.next_id, "method": method, "params": params})
        while True:
            m = self.ws.receive()
            if m.get("id") == self.next_id:
                assert "error" not in m, "%s: %s" % (method, m["error"])
                return m["result"]

    def js(self, expression):
        # the value of a JavaScript expression in the page (a promise is awaited)
        r = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        assert "exceptionDetails" not in r, "%s: %s" % (expression, r["exceptionDetails"])
        return r["result"].get("value")

    def open(self, url, ready):
        # load url and wait until the JavaScript expression `ready` is true
        self.call("Page.navigate", url=url)
        self.wait(ready, 30)

    def wait(self, expression, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = self.js(expression)
            except AssertionError:
                value = None  # the page is between two documents
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError("timed out after %d s waiting for %s" % (timeout, expression))

    def fill(self, values):
        # set form fields by id, as typing would; a bool ticks a checkbox
        for k, v in values.items():
            if isinstance(v, bool):
                self.js("document.getElementById(%s).checked = %s" % (json.dumps(k), "true" if v else "false"))
            else:
                self.js("document.getElementById(%s).value = %s" % (json.dumps(k), json.dumps(v)))

    def choose_file(self, element_id, path):
        # a file chosen in an <input type=file>, as the file dialog does
        element = self.call("Runtime.evaluate", expression="document.getElementById(%s)" % json.dumps(element_id))["result"]
        self.call("DOM.setFileInputFiles", files=[path], objectId=element["objectId"])
        assert self.js("document.getElementById(%s).files.length" % json.dumps(element_id)) == 1

    def text(self, element_id):
        return self.js("document.getElementById(%s).textContent" % json.dumps(element_id))

    def close(self):
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=10)
