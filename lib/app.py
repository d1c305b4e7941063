# app.py Provides App: the firmware loop wiring UART, decoder, MQTT, status page and watchdog together.
# MIT license
#
# One loop, no threads: each pass drains the UART into the decoder first, then gives the network
# a bounded slice. Everything network-side may fail; the UART is read regardless. lib/boot_guard.py
# reads the config and the board's profile and makes the App (code needed once, dropped after).

import gc
import json
import os
import sys
import time

from array import array

import clock
from counter import add
import watchdog
from dlms import Decoder
from hdlc import Assembler
from mqtt_pub import Publisher, POWER_KEYS, ENERGY_KEYS, NET_POWER
from obis import field
from reading import to_json
from ringbuf import RingBuffer
from serial_port import IrqWatch, SerialChoice, reconfigure, text
from web import WebServer
from wifi import WifiLink
from micropython import const

VERSION = "0.1.0"
_LOOP_MS = const(20)  # about 5 bytes arrive in 20 ms at 2400 baud (218 B/s at 8E1), 230 at P1's 115200: the ring holds 1 KB
_CHUNK = const(64)
_SECOND_MS = const(1000)
_NTP_EVERY_S = const(86400)  # the RTC drifts by seconds a day: set it from NTP daily, not only on a new link
_NTP_RETRY_S = const(3600)
_HISTORY = const(180)  # net power samples for the page's graph: 15 minutes ...
_HISTORY_S = const(5)  # ... one every 5 s
_NO_VALUE = const(-(1 << 29))  # a history slot from before the first reading
_HISTORY_PIECE = const(30)  # samples per piece of /api/status
_ERROR_CHARS = const(160)  # of a loop exception's text kept for diag's last_error
# The accounting's code is about 19 KB at 32 bits when it is loaded into RAM (docs/firmware.md): with
# tariff.accounting "auto" it runs where lib runs from ROMFS (its code stays in flash: 54 KB in use with
# it, at 32 bits) or on a heap this large (PSRAM boards, a PC), not from files on a plain ESP32
_ACCOUNTING_HEAP = const(262144)
_LEDGER_FILE = "/ledger.json"
_PAGE = __file__.rsplit("/", 1)[0] + "/status_page.html" if "/" in __file__ else "status_page.html"


def _env(name, default=None):
    getenv = getattr(os, "getenv", None)  # the unix port has it; the ESP32 has no environment
    return (getenv(name) if getenv else None) or default


def _device_id():
    try:
        import machine

        return "".join("%02x" % b for b in machine.unique_id())
    except (ImportError, AttributeError):
        return _env("HAN_DEVICE_ID", "host")


def _key(hex_text):
    # meter.key / meter.auth_key (32 hex digits, checked by config.py) as 16 bytes, or None
    return bytes(int(hex_text[i:i + 2], 16) for i in range(0, 32, 2)) if hex_text else None


def _once(name):
    # a module needed now and then (diagnosis, release): imported for one use and dropped again, so
    # that its code and texts take no RAM in between (the names it interned stay)
    m = __import__(name)
    sys.modules.pop(name, None)
    return m


def _now_text():
    t = time.gmtime()
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % t[:6]



def _accounting_off(mode):
    # None when the energy accounting runs, else why not: tariff.accounting "off", or "auto" with lib
    # loaded into a heap too small for its code (a plain ESP32 without ROMFS; on the ESP32 the heap
    # grows, so this is its size now)
    if mode == "on":
        return None
    if mode == "off":
        return "tariff.accounting is off"
    heap = gc.mem_free() + gc.mem_alloc()
    if heap >= _ACCOUNTING_HEAP or __file__.startswith("/rom/"):
        return None
    return ("the heap is %d KB and lib runs from files; the accounting runs from ROMFS, from %d KB (PSRAM), or with "
            "tariff.accounting on" % (heap // 1024, _ACCOUNTING_HEAP // 1024))

class App:
    def __init__(self, cfg, errors, profile, state_dir="."):
        self.cfg = cfg
        self.errors = errors
        self.profile = profile
        self.micropython = _once("release").status()
        self.device_id = _device_id()
        self.log = print
        for e in errors:
            self.log("config: " + e)
        self.ring = RingBuffer()
        self.decoder = Decoder(self.on_reading, kamstrup_energy_in_wh=cfg["meter.kamstrup_energy_wh"],
                               key=_key(cfg["meter.key"]), auth_key=_key(cfg["meter.auth_key"]))
        self.assembler = Assembler(self.decoder.apdu)  # HDLC frames: Norway, and most DLMS meters
        self.long_frames = None  # mbus.Assembler: M-Bus long frames (Austria, Poland), while they may be what comes
        self.p1 = None  # p1.Decoder: DSMR P1 telegrams, while they may be what comes (at 115200 only)
        self.framers = ()  # what the UART's bytes go to (lib/framers.py)
        self.protocol = None  # the kind they carry, "hdlc", "mbus" or "p1"; on "auto" None until one passes
        uart_open = _once("uart_open")  # needed once: dropped after
        self.serial = SerialChoice(cfg["meter.serial"], uart_open.lines(cfg["meter.serial"], profile), state_dir + "/serial.json")
        self.serial.try_ms = int(_env("HAN_SERIAL_TRY_MS", self.serial.try_ms))  # the unix port's tests shorten it
        self.uart = uart_open.open_uart(profile, self.serial.line)
        _once("framers").use(self, cfg["meter.serial"])
        self.irq_watch = IrqWatch(self.ring, self.uart)  # attaches the ring; polls if the IRQ never runs
        self.irq = self.irq_watch.irq
        self.chunk = bytearray(_CHUNK)
        self.uart_passes = 0  # watchdog: proof that the UART step keeps running
        self.errors_seen = 0  # exceptions the loop survived (see the console)
        self.last_error = errors[-1] if errors else None  # the newest thing that went wrong, for diag
        self.announced_link = 0
        self.link = WifiLink(cfg["wifi.ssid"], cfg["wifi.password"], cfg["wifi.reset_after_s"], _reset)
        unsafe = any(e.startswith("mqtt.ca_file:") for e in errors)  # TLS asked for without a CA
        self.mqtt = Publisher(cfg, self.device_id, VERSION, self.log, unsafe=unsafe, state_dir=state_dir)
        self.mqtt.set_config_errors(errors)
        self.power_text = None  # last messages, as published
        self.full_power_text = None  # last message with per-phase values (list 2 or 3)
        self.energy_text = None
        self.net_w = None  # import minus export, W
        self.history = array("i", [_NO_VALUE] * _HISTORY)  # ring of net power, preallocated
        self.history_at = 0
        self.seconds = 0  # seconds into the current history slot
        self.grace_s = int(_env("HAN_GRACE_S", "30"))  # before this, no data yet is no fault
        self.last_frame_s = None  # clock.seconds() of the last good message
        self.heap_alloc = 0  # heap in use right after the last collection
        self.web = None
        try:
            self.web = WebServer(cfg["http.port"], {"/": self._page, "/api/status": self._api})
            self.web.forms = self._form
        except OSError as e:
            self.log("http: cannot listen on port %d (%s)" % (cfg["http.port"], e))
        self.wdt = None
        self.wdt_fed_at = 0
        self.next_second = time.ticks_ms()
        self.diag_s = int(_env("HAN_DIAG_S", "60"))  # the unix port's tests shorten it
        self.next_diag_s = clock.seconds() + self.diag_s
        self.diag_connects = 0  # diag goes out right after each new MQTT connection, too
        self.next_ntp_s = None  # set the clock on the first link, then once a day (the RTC drifts)
        self.ntp_every_s = int(_env("HAN_NTP_EVERY_S", _NTP_EVERY_S))  # the unix port's tests shorten it
        self.led = _led(profile)
        self.ledger_path = state_dir + _LEDGER_FILE
        self.keeper = None  # lib/bookkeeper.py, made at the first message: the start's peak of garbage is gone by then
        self.accounting_off = _accounting_off(cfg["tariff.accounting"])  # None, or why the accounting does not run
        if self.accounting_off:
            self.log("accounting: off, " + self.accounting_off)
            self.mqtt.accounting_on = False
            self.mqtt.totals_checked = True  # no totals to read back
        else:
            self.mqtt.on_totals = self._totals_read_back
        self.update = None  # updated once: [state, the trial's end, a restart's time] (lib/app_update.py)
        if "active_app.txt" in os.listdir():  # updated once (firmware/app_slot.py's pointer): lib/app_update.py
            _once("app_update").start(self)

    def on_reading(self, rd):
        # called by the decoder (or the P1 decoder) for every good message, from inside a framer's feed()
        self.last_frame_s = clock.seconds()
        stamp = (("received", json.dumps(_now_text())),)
        pairs = rd.pairs()  # the message's JSON texts, made once for all its payloads
        listed = rd.list_number()
        net = self._net_power(rd)
        self.power_text = to_json(pairs, POWER_KEYS, stamp if net is None else ((NET_POWER, str(net)),) + stamp)
        if listed > 1:
            self.full_power_text = self.power_text
        energy = to_json(pairs, ENERGY_KEYS, stamp) if listed == 3 else None
        if energy:
            self.energy_text = energy
        self.mqtt.reading(pairs, self.power_text, energy)
        if not self.accounting_off:
            self._account(rd)
        # hex frames, from the window of the kind in use (while "auto" searches, which one delivered is
        # not known); a P1 telegram is text, and never held whole
        if self.cfg["mqtt.raw"] and self.protocol in ("hdlc", "mbus"):
            a = self.long_frames if self.protocol == "mbus" else self.assembler
            self.mqtt.raw("".join("%02x" % a.win[i] for i in range(a.frame_start, a.frame_end)))
        if self.led:
            self.led(1)

    def _keeper(self):
        if self.keeper is None:
            from bookkeeper import Bookkeeper

            self.keeper = Bookkeeper(self.cfg, self.mqtt, self.ledger_path, self.log)
        return self.keeper

    def _account(self, rd):
        # its bugs must not stop the power and energy messages
        try:
            self._keeper().reading(rd)
        except Exception as e:
            self.errors_seen = add(self.errors_seen, 1)
            self.last_error = ("accounting: %s: %s" % (e.__class__.__name__, e))[:_ERROR_CHARS]
            self.log(self.last_error)

    def _totals_read_back(self, text):
        self._keeper().read_back(text)

    def _net_power(self, rd):
        # import minus export, W, or None when this message cannot tell: list 1 carries import
        # alone, and while importing, export is zero; a list 1 of 0 W may be exporting
        imp = _watts(rd, "active_power_import")
        exp = _watts(rd, "active_power_export")
        if imp is not None and exp is not None:
            self.net_w = imp - exp
        elif imp:
            self.net_w = imp
        else:
            return None
        return self.net_w

    def frames_ok(self):
        n = 0
        for f in self.framers:
            n += f.frames_ok
        return n

    def use_line(self, setting):
        # after self.serial changed (auto moving on, a new meter.serial): the UART and the framers follow
        reconfigure(self.uart, self.serial.line)
        _once("framers").use(self, setting)

    def feed_uart(self):
        # the UART's bytes so far into the framers (and from there the decoder)
        self.ring.poll()  # no-op where the UART IRQ fills the ring
        self.ring.drain(self.chunk, self.framers)

    def step(self):
        self.feed_uart()
        self.uart_passes = add(self.uart_passes, 1)
        clock.tick()
        now = time.ticks_ms()
        if time.ticks_diff(now, self.next_second) >= 0:
            self.next_second = time.ticks_add(now, _SECOND_MS)
            self._every_second()
        up = self.link.poll()
        if up and self.link.generation != self.announced_link:
            self.announced_link = self.link.generation
            if self.link.wlan is not None:
                ip, port = self.link.address(), self.cfg["http.port"]
                page = "http://%s/" % ip if port == 80 else "http://%s:%d/" % (ip, port)
                self.log("wifi: connected to %s as %s; status page %s" % (self.cfg["wifi.ssid"], ip, page))
                self.next_ntp_s = clock.seconds()  # now
        if up and self.next_ntp_s is not None and clock.seconds() >= self.next_ntp_s:
            ok = _set_clock(self.log)
            self.next_ntp_s = clock.seconds() + (self.ntp_every_s if ok else _NTP_RETRY_S)
        self.mqtt.poll(up, self.link.generation)
        if self.mqtt.last_error is not None:
            self.last_error = self.mqtt.last_error  # kept after the reconnect clears it
        if self.web:
            self.web.poll()
        if clock.seconds() >= self.next_diag_s or self.mqtt.connects != self.diag_connects:
            self.diag_connects = self.mqtt.connects
            self.next_diag_s = clock.seconds() + self.diag_s
            self.mqtt.diag(json.dumps(self.diagnostics()))

    def _every_second(self):
        line = self.serial.check(self.frames_ok())
        if line:
            self.log("serial: no valid frames yet, trying %s" % text(line))
            self.use_line("auto")
        if self.protocol is None and self.frames_ok():
            _once("framers").found(self)
        if self.led:
            self.led(0)
        self.seconds = self.seconds + 1 if self.seconds < _HISTORY_S - 1 else 0
        if self.seconds == 0:
            self.history[self.history_at] = _NO_VALUE if self.net_w is None else self.net_w
            self.history_at = (self.history_at + 1) % _HISTORY
        self.irq = self.irq_watch.check(self.log)
        if clock.seconds() > self.grace_s:
            watchdog.boot_ok()  # the start-up is over: this start did not fail (main.py counts those)
        if self.update and (self.update[1] or self.update[2]):  # a new app on trial, or a restart into one
            _once("app_update").tick(self, clock.seconds())
        gc.collect()
        self.heap_alloc = gc.mem_alloc()
        self._watchdog()

    def _watchdog(self):
        if not self.cfg["watchdog.enabled"]:
            return
        if self.wdt is None:
            if clock.seconds() < self.cfg["watchdog.start_after_s"]:
                return
            self.wdt = watchdog.arm(self.cfg["watchdog.timeout_s"] * 1000)  # fed by a timer once the loop ends
            if self.wdt is None:
                return  # the unix port has no watchdog
        if self.uart_passes != self.wdt_fed_at:  # fed only when the UART loop moved on
            self.wdt_fed_at = self.uart_passes
            self.wdt.feed()

    def run(self):
        self.log("han-dongle %s: device %s, serial %s, MQTT %s, page on port %d" % (
            VERSION, self.device_id, text(self.serial.line), self.mqtt.prefix, self.cfg["http.port"]))
        while True:
            try:
                self.step()
            except KeyboardInterrupt:
                self.log("stopped (Ctrl-C)")
                return
            except Exception as e:  # a bug must not stop the meter being read: log it, go on
                self.errors_seen = add(self.errors_seen, 1)
                self.last_error = ("%s: %s" % (e.__class__.__name__, e))[:_ERROR_CHARS]
                sys.print_exception(e)
                gc.collect()
            time.sleep_ms(_LOOP_MS)

    # --- status, for the page, /api/status and the diag topic ---

    def decoded(self):
        # messages decoded: DLMS ones (HDLC or M-Bus frames) and P1 telegrams
        return self.decoder.decoded + (self.p1.decoded if self.p1 else 0)

    def diagnostics(self):
        d = self.decoder
        decoded = self.decoded()
        diagnosis = _once("diagnosis")
        frames = diagnosis.frame_counts(self)
        uptime = clock.seconds()  # not a ticks difference: those wrap after 6.2 days on the ESP32
        age = None if self.last_frame_s is None else uptime - self.last_frame_s
        serial = {"setting": self.cfg["meter.serial"], "framing": text(self.serial.line), "protocol": self.protocol,
                  "settled": self.serial.settled, "irq": self.irq}
        unknown_list = str(bytes(d.last_unknown_list[: d.last_unknown_list_len]), "utf-8") if d.last_unknown_list_len else None
        code, message = diagnosis.diagnose(uptime, self.ring.received, frames["ok"], decoded, d.unknown, d.no_key,
                                           unknown_list, age, serial, self.profile["uart"]["rx"], self.grace_s, d.wrong_key)
        return {
            "diagnosis": {"code": code, "message": message},
            "version": VERSION,
            "micropython": self.micropython,
            "device_id": self.device_id,
            "uptime_s": uptime,
            "heap_free": gc.mem_free(),
            "heap_alloc": self.heap_alloc,
            "rssi": self.link.rssi(),
            "ip": self.link.address(),
            "reset_cause": _reset_cause(),
            "loop_errors": self.errors_seen,
            "last_error": self.last_error,
            "update": self.update and self.update[0],
            "loop_passes": self.uart_passes,  # what feeds the watchdog: it must keep rising
            "config_errors": self.errors,
            "serial": serial,
            "uart": {"bytes": self.ring.received, "overflow": self.ring.overflow},
            "frames": frames,
            "decoder": {"decoded": decoded, "malformed": d.malformed, "unknown": d.unknown, "encrypted": d.encrypted,
                        "no_key": d.no_key, "wrong_key": d.wrong_key,
                        "unknown_list": unknown_list, "unknown_items": d.last_unknown_items if d.unknown else None},
            "last_frame_age_s": age,
            "mqtt": {"state": self.mqtt.state, "error": self.mqtt.last_error, "prefix": self.mqtt.prefix, "published": self.mqtt.published,
                     "energy_queued": len(self.mqtt.energy_queue), "energy_dropped": self.mqtt.energy_queue.dropped, "power_dropped": self.mqtt.power_dropped},
        }

    def _api(self):
        # written to the socket in pieces as it takes them (lib/web.py): never built whole in RAM
        return "application/json", self._status()

    def _status(self):
        # /api/status: the diagnostics, net power and its history, then the last messages as published
        # (JSON texts already, whose numbers stay the exact decimals); every piece a few hundred bytes
        sep = "{"
        for k, v in self.diagnostics().items():
            yield '%s"%s": %s' % (sep, k, json.dumps(v))
            sep = ", "
        yield ', "net_power": %s, "history": {"interval_s": %d, "net_power": [' % (json.dumps(self.net_w), _HISTORY_S)
        h, n = self.history, self.history_at
        for i in range(0, _HISTORY, _HISTORY_PIECE):  # oldest first
            yield ("," if i else "") + ",".join(_sample(h[(n + j) % _HISTORY]) for j in range(i, min(i + _HISTORY_PIECE, _HISTORY)))
        yield "]}"
        yield ', "accounting": '
        if self.accounting_off:
            yield '{"off": %s}' % json.dumps(self.accounting_off)
        elif self.keeper:
            for piece in self.keeper.status():
                yield piece
        else:
            yield "null"
        for k, v in (("meter", self.mqtt.meter_json), ("power", self.power_text), ("power_full", self.full_power_text),
                     ("energy", self.energy_text)):
            yield ', "%s": ' % k
            yield v or "null"
        yield "}"

    def _page(self):
        return "text/html; charset=utf-8", _PAGE

    def _form(self, line, sock):
        # /setup and /settings (docs/setup.md), and updates (docs/updates.md): lib/form_req.py, imported for the request and dropped
        return _once("form_req").reader(self, line, sock)



def _sample(v):
    return "null" if v == _NO_VALUE else str(v)


def _watts(rd, name):
    f = field(name)
    if not rd.present[f]:
        return None
    n, e = rd.number(f)
    return n * 10**e if e >= 0 else n // 10**-e


def _set_clock(log):
    # the receive times need a clock (a device starts at 2000-01-01): True once NTP answered
    try:
        import ntptime

        ntptime.settime()  # bounded by ntptime's own 1 s socket timeout
        return True
    except Exception as e:  # no NTP server reachable: try again within the hour
        log("ntp: clock not set (%s)" % e)
        return False


def _reset():
    try:
        import machine

        machine.reset()
    except (ImportError, AttributeError):
        sys.exit(3)  # the unix port: end the process, as a reset would


def _reset_cause():
    try:
        import machine

        return {machine.PWRON_RESET: "power-on", machine.HARD_RESET: "hard", machine.WDT_RESET: "watchdog",
                machine.DEEPSLEEP_RESET: "deep sleep", machine.SOFT_RESET: "soft"}.get(machine.reset_cause(), "other")
    except (ImportError, AttributeError):
        return "process start"


def _led(profile):
    led = profile.get("led")
    if not led:
        return None
    from machine import Pin

    pin = Pin(led["pin"], Pin.OUT)
    low = led.get("active_low")
    return lambda on: pin.value((not on) if low else on)
