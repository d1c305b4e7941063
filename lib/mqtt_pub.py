# mqtt_pub.py Provides Publisher: readings to MQTT with the project's own bounded client, discovery, reconnects, and an energy queue.
# MIT license
#
# Every MQTT call returns within a few seconds whatever the broker does (lib/mqtt_client.py): a dead
# or misbehaving broker costs one bounded attempt per backoff period and the main loop goes back to
# the UART in between. Power values are dropped while the broker is away; hourly energy messages
# wait in a bounded queue and go out in order (QoS 1: a message leaves the queue only once the
# broker has acknowledged it).

import errno
import json
import sys
import time
from micropython import const

import clock
from counter import add
from energy_queue import EnergyQueue
from mqtt_client import MQTTClient, MQTTException
from reading import to_json
from obis import NAMES, KINDS, KIND_ENERGY, NUMERIC

_QUEUE_MAX = const(72)  # hourly energy messages kept while the broker is away: three days
_BACKOFF_MIN_S = const(1)
_BACKOFF_MAX_S = const(60)
_IO_TIMEOUT_S = const(3)  # connect, each read and write, a whole packet, an acknowledgement
_FLUSH_BUDGET_MS = const(1000)  # queued energy messages sent per loop pass, at most this long
_LOG_CHARS = const(160)
_INCOMING_MAX = const(160)  # topic and payload of a message in: homeassistant/status' "online", our retained totals (about 80 bytes and the topic)

POWER_KEYS = ("list", "meter_datetime") + tuple(n for n, k in zip(NAMES[:NUMERIC], KINDS) if k != KIND_ENERGY)
# meter_id: the energy topic is retained, and after a meter swap an energy sensor must tell the old meter's registers from its own
ENERGY_KEYS = ("meter_datetime", "meter_id", "active_energy_import", "active_energy_export", "reactive_energy_import", "reactive_energy_export")
METER_KEYS = ("meter_manufacturer", "meter_id", "meter_type", "list_ver_id")
NET_POWER = "active_power_net"  # import minus export, W: worked out by the firmware (lib/app.py), a key of the power message
_METER_FILE = "/ha_meter.txt"  # the meter id last announced to Home Assistant, to remove it when another meter comes


class Publisher:
    def __init__(self, cfg, device_id, version, log=print, unsafe=False, state_dir="."):
        self.prefix = cfg["mqtt.prefix"] or "han/" + device_id
        p = self.prefix
        self.topics = {k: p + "/" + k for k in ("status", "power", "energy", "meter", "diag", "raw", "config_errors", "hour", "accounting", "totals")}
        self.cfg = cfg
        self.device_id = device_id
        self.client_id = cfg["mqtt.client_id"] or "han-" + device_id
        self.version = version
        self.log = log
        self.disc_prefix = cfg["discovery.prefix"]
        self.enabled = bool(cfg["mqtt.host"]) and not unsafe  # unsafe: TLS asked for, but no CA to check it
        self.state = "disconnected" if self.enabled else "not configured"
        self.last_error = None
        self.client = None  # made on the first connect and kept: it holds the broker's looked-up address
        self.connected = False
        self.link_generation = 0  # the Wi-Fi link the socket was made on
        self.backoff_s = _BACKOFF_MIN_S
        self.next_try = clock.seconds()
        self.next_ping = self.next_try
        self.ignored = 0  # incoming messages too long to read, as last logged
        self.energy_queue = EnergyQueue(state_dir + "/energy_queue.txt", _QUEUE_MAX, log)  # on flash, survives resets
        self.meter_file = state_dir + _METER_FILE
        self.power_dropped = 0
        self.published = 0
        self.connects = 0
        self.meter = None  # meter identity dict once a list 2/3 message named it
        self.meter_json = None
        self.fields = []  # numeric fields of this meter seen so far, for discovery
        self.announced = []  # discovery configs published on this connection
        self.dongle_announced = False  # the dongle's diagnostic sensors, on this connection
        self.meter_checked = False  # the meter announced last (on flash) was compared with this one
        self.config_errors = []
        self.acc_announced = False  # the accounting's sensors, on this connection
        # the running totals must never go back as published, also across a reset: at the first
        # connection the retained totals are read back (on_totals) before any are sent
        self.totals_checked = not self.enabled
        self.accounting_on = True  # set by the App: off, it has no totals to read back and no sensors
        self.checking = False  # subscribed to our own totals until the ping after it is answered
        self.on_totals = None  # on_totals(text of the retained totals)

    # --- called by the application ---

    def poll(self, link_up, link_generation):
        # keep the connection: connect when due, ping, read what the broker sent
        if not self.enabled:
            return
        if self.connected and not link_up:
            self._drop("the Wi-Fi link is down")  # writing into a dead link would block, then fail
        elif self.connected and link_generation != self.link_generation:
            self._drop("Wi-Fi link was renewed")  # sockets of the old link are dead
        if not self.connected:
            if link_up and clock.seconds() >= self.next_try:
                self._connect(link_generation)
            return
        try:
            if clock.seconds() >= self.next_ping:
                self.client.ping()  # raises when the last ping got no answer: a half-open link
                self.next_ping = clock.seconds() + self.cfg["mqtt.keepalive_s"] // 2
            self.client.check_msg()
            if self.checking and self.client.ping_answered():  # the retained totals came before the answer, if any
                self.checking = False
                self.client.unsubscribe(self.topics["totals"].encode())
                self.totals_checked = True
            self._log_ignored()
            self._flush_energy()
        except Exception as e:  # OSError or MQTTException from the client, ValueError from TLS
            self._drop(e)

    def reading(self, pairs, power_text, energy_text):
        # publish one decoded message (pairs: its Reading.pairs()): its power JSON, and the
        # energy JSON of a list 3 message
        if energy_text:
            self._queue_energy(energy_text)
        names = [k for k, _ in pairs]
        if "meter_id" in names:
            self._meter(pairs)
        new = [f for f in _sensor_fields(names) if f not in self.fields]
        self.fields.extend(new)
        if not self.connected:
            self.power_dropped = add(self.power_dropped, 1)
            return
        self._send(self.topics["power"], power_text)
        self._announce()
        self._flush_energy()

    def hour(self, text):
        # a completed hour's JSON: queued with the energy messages (on flash, in order, QoS 1, retained)
        self._queue_energy(text)
        self._flush_energy()

    def accounting(self, text, totals_text):
        # the live accounting message and the running totals (None: not yet known not to go back)
        if self.connected:
            self._send(self.topics["accounting"], text, retain=True, quiet=True)
            if totals_text is not None and self.totals_checked:
                self._send(self.topics["totals"], totals_text, retain=True, quiet=True)

    def raw(self, hex_text):
        if self.cfg["mqtt.raw"] and self.connected:
            self._send(self.topics["raw"], hex_text)

    def diag(self, text):
        # retained: the dongle's diagnostic sensors have a value as soon as Home Assistant starts
        if self.connected:
            self._send(self.topics["diag"], text, retain=True)

    def set_config_errors(self, errors):
        self.config_errors = errors
        if self.connected:
            self._send(self.topics["config_errors"], json.dumps(errors), retain=True)

    # --- inside ---

    def _meter(self, pairs):
        text = to_json(pairs, METER_KEYS)
        if text != self.meter_json:
            new = json.loads(text)
            if self.meter is None or new.get("meter_id") != self.meter.get("meter_id"):
                self.fields = []  # another meter (swapped): only what it sends is announced
                self.meter_checked = False
            self.meter = new
            self.meter_json = text
            self.announced = []  # a new meter: its sensors are announced again
            self.acc_announced = False
            if self.connected:
                self._send(self.topics["meter"], text, retain=True)

    def _announce(self):
        # the dongle's sensors first (the meter's device names it as via_device), then the meter's;
        # a meter other than the one announced last has that one's configs removed first
        if not self.cfg["discovery.enabled"]:
            return
        meter = self.meter if self.meter is not None and "meter_id" in self.meter else None
        todo = [f for f in self.fields if f not in self.announced] if meter else ()
        if self.dongle_announced and not todo and (meter is None or self.meter_checked and (self.acc_announced or not self.accounting_on)):
            return
        import ha_discovery as ha  # needed only while announcing: dropped after, its RAM back (its names stay interned)

        try:
            if not self.dongle_announced:
                for i in range(len(ha.DONGLE)):
                    topic, payload = ha.dongle_config(i, self.device_id, self.cfg["board"], self.topics, self.disc_prefix, self.version)
                    if not self._send(topic, payload, retain=True, quiet=True):
                        return
                self.dongle_announced = True
            if meter is None:
                return
            if not self.meter_checked and not self._replace(ha, meter["meter_id"]):
                return
            for field in todo:
                topic, payload = ha.meter_config(field, meter, self.topics, self.disc_prefix, self.version, self.device_id)
                if not self._send(topic, payload, retain=True, quiet=True):
                    return
                self.announced.append(field)
            if not self.acc_announced and self.accounting_on:
                for i in range(len(ha.ACCOUNTING)):
                    topic, payload = ha.accounting_config(i, meter, self.topics, self.disc_prefix, self.version, self.device_id)
                    if not self._send(topic, payload, retain=True, quiet=True):
                        return
                self.acc_announced = True
        finally:
            sys.modules.pop("ha_discovery", None)

    def _replace(self, ha, meter_id):
        # True once the meter announced last is this one, or its configs are removed (empty retained)
        old = ha.previous_meter(self.meter_file)
        if old is not None and old != meter_id:
            for topic in ha.removal_topics(old, self.disc_prefix):
                if not self._send(topic, "", retain=True, quiet=True):
                    return False  # the rest next time: the file still names the old meter
            self.log("mqtt: meter %s replaced by %s: the old meter's sensors are removed from Home Assistant" % (old, meter_id))
        if old != meter_id:
            try:
                ha.remember_meter(self.meter_file, meter_id)
            except OSError as e:  # a full or read-only flash: announce all the same
                self.log("mqtt: cannot write %s (%s)" % (self.meter_file, e))
        self.meter_checked = True
        return True

    def _queue_energy(self, text):
        self.energy_queue.add(text)  # when full, the oldest goes: the registers are cumulative

    def _flush_energy(self):
        # a second at most per loop pass: a broker that acknowledges slowly must not hold the UART
        # and the watchdog for the whole queue (72 x 3 s); what is left goes in the next passes
        q = self.energy_queue
        start = time.ticks_ms()
        while self.connected and len(q) and time.ticks_diff(time.ticks_ms(), start) < _FLUSH_BUDGET_MS:
            text = q.first()  # read back from flash
            topic = self.topics["hour" if text is not None and text.startswith('{"hour"') else "energy"]
            if text is None or not self._send(topic, text, retain=True, qos=1):
                break
            q.acknowledged()
        q.save()  # the acknowledged ones leave the file: one write for the batch

    def _send(self, topic, payload, retain=False, qos=0, quiet=False):
        # True once sent (and for QoS 1 acknowledged); on failure the connection is dropped
        if not self.connected:  # an earlier send in this pass failed
            return False
        try:
            self.client.publish(topic.encode(), payload.encode(), retain, qos)
        except Exception as e:
            self._drop(e)
            return False
        self.published = add(self.published, 1)  # counters of every message wrap at 2**30 (counter.py)
        if not quiet:
            self.log("mqtt: %s %s" % (topic, payload if len(payload) <= _LOG_CHARS else payload[:_LOG_CHARS] + "..."))
        return True

    def _client(self):
        cfg = self.cfg
        context = None
        if cfg["mqtt.tls"]:
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.verify_mode = ssl.CERT_REQUIRED  # MicroPython's default is not to check
            context.load_verify_locations(cadata=_der(cfg["mqtt.ca_file"]))
        c = MQTTClient(self.client_id, cfg["mqtt.host"], cfg["mqtt.port"], cfg["mqtt.user"], cfg["mqtt.password"],
                       cfg["mqtt.keepalive_s"], context, _IO_TIMEOUT_S, _INCOMING_MAX)
        c.set_last_will(self.topics["status"].encode(), b"offline", retain=True)
        c.set_callback(self._incoming)
        return c

    def _connect(self, link_generation):
        self.state = "connecting"
        cfg = self.cfg
        if self.client is None:
            try:
                self.client = self._client()
            except Exception as e:  # no ssl module, or the CA file is missing or no certificate: retrying cannot help
                self.enabled = False
                self.state = "not configured"
                self.last_error = "mqtt.ca_file %s cannot be used: %s" % (cfg["mqtt.ca_file"], e) if cfg["mqtt.tls"] else str(e)
                self.log("mqtt: " + self.last_error)
                return
        c = self.client
        try:
            c.connect()
            c.publish(self.topics["status"].encode(), b"online", True)
            if cfg["discovery.enabled"]:
                c.subscribe((self.disc_prefix + "/status").encode())
            if not self.totals_checked:
                c.subscribe(self.topics["totals"].encode())
                c.ping()  # its answer comes after the retained totals (the broker keeps the order)
                self.checking = True
        except Exception as e:
            self._drop(e)
            return
        self.connected = True
        self.link_generation = link_generation
        self.connects += 1
        self.state = "connected"
        self.last_error = None
        self.backoff_s = _BACKOFF_MIN_S
        self.next_ping = clock.seconds() + cfg["mqtt.keepalive_s"] // 2
        self.log("mqtt: connected to %s:%d as %s" % (cfg["mqtt.host"], cfg["mqtt.port"], self.client_id))
        self.announced = []
        self.dongle_announced = False
        self.acc_announced = False
        if self.meter_json:
            self._send(self.topics["meter"], self.meter_json, retain=True)
        self._send(self.topics["config_errors"], json.dumps(self.config_errors), retain=True, quiet=True)
        self._announce()
        self._flush_energy()

    def _incoming(self, topic, msg):
        # Home Assistant restarted: it lost the discovery configs it did not keep, announce again.
        # Only the exact word counts; a message longer than _INCOMING_MAX never gets here (see _log_ignored).
        if topic == (self.disc_prefix + "/status").encode() and msg == b"online":
            self.announced = []
            self.dongle_announced = False
            self.acc_announced = False
            self._announce()
        elif self.checking and topic == self.topics["totals"].encode() and self.on_totals:
            self.on_totals(msg)

    def _log_ignored(self):
        # the client skips incoming messages longer than _INCOMING_MAX without keeping them: say so
        if self.client.dropped != self.ignored:
            self.log("mqtt: ignored %d message(s) longer than %d bytes of topic and payload" % (self.client.dropped - self.ignored, _INCOMING_MAX))
            self.ignored = self.client.dropped

    def _drop(self, why):
        was = self.connected
        self.connected = False
        self.checking = False  # read back again at the next connection
        self.state = "disconnected"
        self.last_error = _describe(why)
        if self.client is not None:
            self.client.close()
        self.next_try = clock.seconds() + self.backoff_s
        if was:
            self.log("mqtt: connection lost (%s); retrying in %d s" % (self.last_error, self.backoff_s))
        else:
            self.log("mqtt: cannot connect to %s:%d (%s); retrying in %d s" % (self.cfg["mqtt.host"], self.cfg["mqtt.port"], self.last_error, self.backoff_s))
        self.backoff_s = min(self.backoff_s * 2, _BACKOFF_MAX_S)


def _sensor_fields(present_names):
    # the numeric fields a message carried, plus net power once import power is seen
    out = [n for n in present_names if n in NAMES[:NUMERIC]]
    if "active_power_import" in out:
        out.append(NET_POWER)
    return out


def _der(path):
    # the CA certificate as DER: MicroPython's mbedtls reads DER only, and most users have PEM
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(b"-----BEGIN"):
        return data
    import binascii

    body = data.split(b"-----")[2]  # between "-----BEGIN CERTIFICATE-----" and "-----END"
    return binascii.a2b_base64(body.replace(b"\n", b"").replace(b"\r", b""))


def _describe(e):
    # what a user can act on, from what the client, the socket and TLS raise
    code = e.args[0] if getattr(e, "args", None) else None
    if isinstance(e, MQTTException):
        if code in (4, 5):  # bad user name or password; not authorised (mosquitto's answer to a wrong password)
            return "the broker refused the login (code %d): check mqtt.user and mqtt.password" % code
        return "the broker refused the connection (code %s)" % code
    text = str(e).strip()
    if "certificate" in text.lower() or (isinstance(code, int) and code < -0x1000):  # mbedtls' certificate checks
        return "TLS: the broker's certificate is not trusted by mqtt.ca_file, or names another host (%s)" % text
    if code in (errno.ECONNREFUSED, 111):
        return "connection refused: is the broker running on that host and port?"
    if code in (errno.ETIMEDOUT, errno.EHOSTUNREACH, 110, 116, 113):
        return "no answer from the broker (timed out or unreachable)"
    if code in (errno.ECONNRESET, errno.ENOTCONN, 104, 128):
        return "the broker closed the connection"
    return text or e.__class__.__name__
