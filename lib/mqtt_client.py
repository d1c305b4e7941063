# mqtt_client.py Provides MQTTClient: a small MQTT 3.1.1 client whose every call returns within a few seconds, on TCP and TLS.
# MIT license
#
# Written for the ESP32's sockets (docs/esp32-realities.md), where setblocking(True) means "wait
# forever" and a TLS socket has no settimeout() of its own. So: the plain socket gets its timeout
# before connect() and before the TLS wrap and keeps it for life (each connect, handshake read and
# write is bounded by it); setblocking() is never called; a packet read in several parts, and the
# wait for an acknowledgement, have one overall deadline; incoming data is looked for with
# poll(0) before anything is read. A broker that stalls, goes silent or closes mid-packet costs at
# most a few seconds and an OSError; the caller reconnects later.
#
# The broker's address is looked up on the first connect() and kept until a connect to it fails:
# getaddrinfo() blocks everything while it runs (a `.local` name that does not answer costs the 5 s
# mDNS timeout), so it runs at most once per attempt and, while the broker answers, never again.

import errno
import sys
try:
    import select
    import socket
except ImportError:  # the 32-bit test runtime has no sockets; the packet code runs there all the same
    select = socket = None
import time
from micropython import const

# packet types (first byte, with the flags MQTT 3.1.1 requires)
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_SUBSCRIBE = const(0x82)
_SUBACK = const(0x90)
_UNSUBSCRIBE = const(0xA2)
_UNSUBACK = const(0xB0)
_PINGREQ = const(0xC0)
_PINGRESP = const(0xD0)
_DISCONNECT = const(0xE0)

_LENGTH_MAX = const(268435455)  # the most 4 bytes of remaining length can say
_CHECK_MAX = const(4)  # packets handled per check_msg(): one call stays short however busy the broker is
_OUT_SIZE = const(128)  # fixed header, topic and packet id of most publishes go out in one write
_SUB_REFUSED = const(0x80)


class MQTTException(Exception):
    # the broker said no: args[0] is the CONNACK return code (1-5) or 0x80 (subscription refused)
    pass


def put_length(buf, at, n):
    # MQTT's remaining length: n in 7-bit groups, low first, into buf[at:]; returns the index after it
    if n < 0 or n > _LENGTH_MAX:
        raise ValueError("MQTT packet too long: %d" % n)
    while n > 0x7F:
        buf[at] = (n & 0x7F) | 0x80
        n >>= 7
        at += 1
    buf[at] = n
    return at + 1


def _text(s):
    # client id, user and password as UTF-8 bytes: MQTT counts bytes, and a str counts characters
    return s.encode() if isinstance(s, str) else s


class MQTTClient:
    def __init__(self, client_id, server, port=1883, user=None, password=None, keepalive=0, ssl=None,
                 timeout_s=3, max_incoming=128):
        # ssl: an ssl.SSLContext, set up by the caller (CA, verify mode); max_incoming: the most bytes of
        # topic and payload an incoming message may have to reach the callback (longer ones are skipped)
        self.client_id = _text(client_id)
        self.server = server
        self.port = port
        self.user = _text(user)
        self.password = _text(password)
        self.keepalive = keepalive
        self.ssl = ssl
        self.timeout_s = timeout_s
        self.addr = None  # the broker's address: looked up once, forgotten when a connect to it fails
        self.sock = None
        self.cb = None
        self.will = None  # (topic, message, retain)
        self.pid = 0
        self.dropped = 0  # incoming messages longer than max_incoming, skipped
        self._poller = None
        self._until = 0  # deadline (ticks_ms) of the read or wait under way
        self._ping_unanswered = False
        self._acked = -1  # packet id of the last PUBACK or SUBACK read
        self._sub_code = 0
        self._out = bytearray(_OUT_SIZE)
        self._in = bytearray(max_incoming)
        self._two = bytearray(2)
        self._two_mv = memoryview(self._two)

    def set_callback(self, f):
        # f(topic, message), both bytes, for each incoming message that fits max_incoming
        self.cb = f

    def set_last_will(self, topic, msg, retain=False):
        self.will = (topic, msg, retain)

    # --- connection ---

    def connect(self, clean_session=True):
        # TCP (and TLS) connect, CONNECT, CONNACK; raises OSError, or MQTTException when refused
        self.close()
        if self.addr is None:
            try:
                self.addr = socket.getaddrinfo(self.server, self.port)[0][-1]
            except (OSError, IndexError) as e:
                raise OSError("cannot look up %s (%s)" % (self.server, e))
        s = socket.socket()
        self.sock = s
        s.settimeout(self.timeout_s)  # for life: bounds connect, every handshake read and every write
        try:
            s.connect(self.addr)
        except OSError:
            self.addr = None  # the broker may have moved (DHCP): look it up again next time
            raise
        if self.ssl is not None:
            self.sock = self.ssl.wrap_socket(s, server_hostname=self.server)  # the raw socket's timeout holds
        self._poller = select.poll()
        self._poller.register(self.sock, select.POLLIN)
        return self._login(clean_session)

    def _login(self, clean_session):
        # CONNECT, then CONNACK by the deadline; returns the session-present flag. Once per connection:
        # lib/mqtt_login.py is imported for it and dropped again, so its code takes no RAM in between
        import mqtt_login

        try:
            return mqtt_login.login(self, clean_session)
        finally:
            sys.modules.pop("mqtt_login", None)

    def disconnect(self):
        try:
            self._write_empty(_DISCONNECT)
        finally:
            self.close()

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self._poller = None

    # --- packets out ---

    def ping(self):
        # PINGREQ; a ping still unanswered from last time means the link is gone (half-open)
        if self._ping_unanswered:
            raise OSError(errno.ETIMEDOUT)
        self._write_empty(_PINGREQ)
        self._ping_unanswered = True

    def publish(self, topic, msg, retain=False, qos=0):
        # qos 0: sent; qos 1: sent and acknowledged by the broker before this returns (or OSError)
        if qos > 1:
            raise ValueError("QoS 2 is not supported")
        out = self._out
        out[0] = _PUBLISH | (qos << 1) | (1 if retain else 0)
        n = 2 + len(topic) + len(msg) + (2 if qos else 0)
        at = put_length(out, 1, n)
        if qos:
            self.pid = self.pid % 0xFFFF + 1  # 1 to 65535: 0 is not a packet id
        if at + 2 + len(topic) + 2 <= _OUT_SIZE:  # header, topic and id in one write (one TLS record)
            out[at] = len(topic) >> 8
            out[at + 1] = len(topic) & 0xFF
            at += 2
            out[at : at + len(topic)] = topic
            at += len(topic)
            if qos:
                out[at] = self.pid >> 8
                out[at + 1] = self.pid & 0xFF
                at += 2
            self._write(out, at)
        else:
            self._write(out, at)
            self._write_text(topic)
            if qos:
                self._two[0] = self.pid >> 8
                self._two[1] = self.pid & 0xFF
                self._write(self._two, 2)
        self._write(msg, len(msg))
        if qos:
            self._wait_for(_PUBACK, self.pid)

    def subscribe(self, topic, qos=0):
        # SUBSCRIBE one topic and wait for its SUBACK; MQTTException(0x80) when the broker refuses it
        self.pid = self.pid % 0xFFFF + 1
        out = self._out
        out[0] = _SUBSCRIBE
        at = put_length(out, 1, 2 + 2 + len(topic) + 1)
        out[at] = self.pid >> 8
        out[at + 1] = self.pid & 0xFF
        self._write(out, at + 2)
        self._write_text(topic)
        self._two[0] = qos
        self._write(self._two, 1)
        self._wait_for(_SUBACK, self.pid)
        if self._sub_code == _SUB_REFUSED:
            raise MQTTException(_SUB_REFUSED)

    def unsubscribe(self, topic):
        # UNSUBSCRIBE one topic and wait for its UNSUBACK
        self.pid = self.pid % 0xFFFF + 1
        out = self._out
        out[0] = _UNSUBSCRIBE
        at = put_length(out, 1, 2 + 2 + len(topic))
        out[at] = self.pid >> 8
        out[at + 1] = self.pid & 0xFF
        self._write(out, at + 2)
        self._write_text(topic)
        self._wait_for(_UNSUBACK, self.pid)

    def ping_answered(self):
        # the last PINGREQ has its PINGRESP: the broker has sent everything it had before it
        return not self._ping_unanswered

    # --- packets in ---

    def check_msg(self):
        # handle what the broker has sent, if anything: never waits for a packet that has not begun
        # to arrive, reads one that has by its deadline, and begins no new one once a timeout has
        # passed since the call (nor more than _CHECK_MAX): at most about two timeouts in all
        began = time.ticks_ms()
        for _ in range(_CHECK_MAX):
            if not self._ready(0) or time.ticks_diff(time.ticks_ms(), began) >= self.timeout_s * 1000:
                return
            self._start()
            self._handle(*self._read_header())

    def _wait_for(self, kind, pid):
        # handle incoming packets until the acknowledgement of `pid` arrives, by one deadline
        self._start()
        while True:
            self._wait_readable()
            if self._handle(*self._read_header()) == kind and self._acked == pid:
                return

    def _handle(self, op, n):
        # the body of one packet whose fixed header was read; returns its type
        kind = op & 0xF0
        if kind == _PUBLISH:
            self._incoming(op, n)
        elif kind == _PINGRESP and n == 0:
            self._ping_unanswered = False
        elif (kind == _PUBACK or kind == _UNSUBACK) and n == 2 or kind == _SUBACK and n == 3:
            self._read(self._two_mv, 2)
            self._acked = self._two[0] << 8 | self._two[1]
            if kind == _SUBACK:
                self._read(self._two_mv, 1)
                self._sub_code = self._two[0]
        else:
            raise OSError("MQTT: unexpected packet type 0x%02x, length %d" % (op, n))
        return kind

    def _incoming(self, op, n):
        # a PUBLISH from the broker: to the callback if topic and payload fit self._in, else skipped;
        # acknowledged at QoS 1 either way (or the broker would send it again)
        qos = (op >> 1) & 3
        if qos == 3:
            raise OSError("MQTT: bad PUBLISH flags 0x%02x" % op)
        self._read(self._two_mv, 2)
        topic_len = self._two[0] << 8 | self._two[1]
        size = n - 2 - (2 if qos else 0) - topic_len  # the payload
        if size < 0:
            raise OSError("MQTT: PUBLISH length %d too short for its topic" % n)
        keep = topic_len + size <= len(self._in)
        buf = memoryview(self._in)
        if keep:
            self._read(buf, topic_len)
        else:
            self._skip(topic_len)
        if qos:
            self._read(self._two_mv, 2)
            pid = self._two[0] << 8 | self._two[1]
        if keep:
            self._read(buf[topic_len:], size)
        else:
            self._skip(size)
        if qos == 1:
            out = self._out  # not in use while a packet is read
            out[0] = _PUBACK
            out[1] = 2
            out[2] = pid >> 8
            out[3] = pid & 0xFF
            self._write(out, 4)
        elif qos == 2:
            raise OSError("MQTT: QoS 2 message from the broker (only QoS 0 and 1 were asked for)")
        if not keep:
            self.dropped += 1
        elif self.cb:
            self.cb(bytes(buf[:topic_len]), bytes(buf[topic_len : topic_len + size]))

    # --- bounded reads and writes ---

    def _start(self):
        self._until = time.ticks_add(time.ticks_ms(), self.timeout_s * 1000)

    def _ready(self, ms):
        # True once the socket has something to read (or has closed), waiting at most ms
        for _ in self._poller.ipoll(ms):
            return True
        return False

    def _wait_readable(self):
        # until the socket has something to read, by the deadline set with _start()
        ms = time.ticks_diff(self._until, time.ticks_ms())
        if ms <= 0 or not self._ready(ms):
            raise OSError(errno.ETIMEDOUT)  # the broker went quiet, maybe in the middle of a packet

    def _read(self, mv, n):
        # n bytes into the memoryview mv, by the deadline set with _start() (however fast they come)
        got = 0
        while got < n:
            self._wait_readable()
            r = self.sock.readinto(mv[got:n])
            if r is None:  # TLS: the record held no data (a session ticket, say); look again
                continue
            if r == 0:
                raise OSError(errno.ECONNRESET)  # closed by the broker
            got += r

    def _read_header(self):
        # a packet's type and remaining length
        self._read(self._two_mv, 1)
        op = self._two[0]
        n = shift = 0
        while True:
            self._read(self._two_mv, 1)
            b = self._two[0]
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return op, n
            shift += 7
            if shift > 21:
                raise OSError("MQTT: remaining length longer than 4 bytes")

    def _skip(self, n):
        # read n bytes and forget them, through self._in
        buf = memoryview(self._in)
        while n > 0:
            k = min(n, len(self._in))
            self._read(buf, k)
            n -= k

    def _write(self, data, n):
        # the first n bytes of data; the socket's timeout bounds each write, and a short one means the
        # broker stopped reading
        if self.sock is None:
            raise OSError(errno.ENOTCONN)
        if self.sock.write(data, n) != n:
            raise OSError(errno.ETIMEDOUT)

    def _write_empty(self, kind):
        # a packet that is its fixed header alone (PINGREQ, DISCONNECT)
        self._two[0] = kind
        self._two[1] = 0
        self._write(self._two, 2)

    def _write_text(self, s):
        self._two[0] = len(s) >> 8
        self._two[1] = len(s) & 0xFF
        self._write(self._two, 2)
        self._write(s, len(s))
