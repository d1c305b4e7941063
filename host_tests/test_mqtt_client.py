# test_mqtt_client.py Checks the MQTT client's packets byte by byte against MQTT 3.1.1, and how it reads what a broker sends.
# Shared: runs under pytest and under the MicroPython unix port (mpy_runner.py). No sockets here: the
# client talks to a byte pipe (what it wrote, what the "broker" sent); the real broker and brokers that
# misbehave are in test_mqtt_misbehaving_brokers.py and test_firmware_mqtt.py.

import errno

from mqtt_client import MQTTClient, MQTTException, put_length


class Pipe:
    # the client's socket and poller in one: keeps what is written, hands out `incoming` at most
    # `chunk` bytes a read; once that is used up, nothing more is readable (a silent broker), or with
    # closed=True the peer has closed (readable, and a read gives 0 bytes)
    def __init__(self, incoming=b"", chunk=1000, closed=False):
        self.incoming = bytes(incoming)
        self.at = 0
        self.chunk = chunk
        self.closed = closed
        self.out = bytearray()

    def write(self, data, n):
        self.out += bytes(data[:n])
        return n

    def readinto(self, mv):
        n = min(len(mv), self.chunk, len(self.incoming) - self.at)
        mv[:n] = self.incoming[self.at : self.at + n]
        self.at += n
        return n

    def ipoll(self, ms):
        return [(self, 1)] if self.at < len(self.incoming) or self.closed else []

    def close(self):
        pass


def _client(incoming=b"", **kw):
    pipe = Pipe(incoming, **kw)
    c = MQTTClient("han-x", "broker", keepalive=60, max_incoming=32)
    c.sock = c._poller = pipe
    return c, pipe


def _raises(f, kind, code=None):
    try:
        f()
    except kind as e:
        assert code is None or e.args[0] == code, e.args
        return e
    raise AssertionError("no %s raised" % kind.__name__)


def _length(n):
    buf = bytearray(5)
    return bytes(buf[1 : put_length(buf, 1, n)])


def test_remaining_length_is_encoded_as_in_the_spec():
    # the boundary examples of MQTT 3.1.1 section 2.2.3
    assert _length(0) == b"\x00"
    assert _length(127) == b"\x7f"
    assert _length(128) == b"\x80\x01"
    assert _length(16383) == b"\xff\x7f"
    assert _length(16384) == b"\x80\x80\x01"
    assert _length(2097151) == b"\xff\xff\x7f"
    assert _length(2097152) == b"\x80\x80\x80\x01"
    assert _length(268435455) == b"\xff\xff\xff\x7f"
    _raises(lambda: _length(268435456), ValueError)


def test_connect_carries_will_login_and_keepalive_and_reads_the_connack():
    c, pipe = _client(b"\x20\x02\x00\x00")
    c.user, c.password = b"dongle", "pässword".encode()  # MQTT counts bytes: 9, not 8 characters
    c.set_last_will(b"han/x/status", b"offline", retain=True)
    assert c._login(True) == 0
    body = (b"\x00\x04MQTT\x04" + bytes([0x80 | 0x40 | 0x20 | 0x04 | 0x02]) + b"\x00\x3c" + b"\x00\x05han-x"
            + b"\x00\x0chan/x/status" + b"\x00\x07offline" + b"\x00\x06dongle" + b"\x00\x09p\xc3\xa4ssword")
    assert bytes(pipe.out) == b"\x10" + _length(len(body)) + body


def test_a_refused_connect_raises_with_the_brokers_return_code():
    c, _ = _client(b"\x20\x02\x00\x05")
    e = _raises(lambda: c._login(True), MQTTException, 5)
    assert e.args == (5,)


def test_a_broker_that_answers_connect_with_something_else_is_an_error():
    c, _ = _client(b"\x90\x03\x00\x01\x00")
    _raises(lambda: c._login(True), OSError)


def test_publish_qos0_with_retain_and_a_long_payload():
    c, pipe = _client()
    payload = b"x" * 200  # a remaining length of two bytes
    c.publish(b"han/x/power", payload, retain=True)
    body = b"\x00\x0bhan/x/power" + payload
    assert bytes(pipe.out) == b"\x31" + _length(len(body)) + body


def test_a_topic_longer_than_the_header_buffer_gives_the_same_bytes():
    c, pipe = _client(b"\x40\x02\x00\x01")
    topic = b"homeassistant/sensor/" + b"t" * 150
    c.publish(topic, b"{}", qos=1)
    body = b"\x00" + bytes([len(topic)]) + topic + b"\x00\x01" + b"{}"
    assert bytes(pipe.out) == b"\x32" + _length(len(body)) + body


def test_publish_qos1_returns_once_its_own_puback_came_handling_what_came_before():
    # a PUBACK for another id, an incoming message and a PINGRESP arrive first, in small pieces
    incoming = b"\x40\x02\x00\x07" + b"\x30\x08\x00\x03a/b" + b"hey" + b"\xd0\x00" + b"\x40\x02\x00\x01"
    c, pipe = _client(incoming, chunk=3)
    got = []
    c.set_callback(lambda t, m: got.append((t, m)))
    c._ping_unanswered = True
    c.publish(b"han/x/energy", b"{}", retain=True, qos=1)
    assert bytes(pipe.out[:1]) == b"\x33" and bytes(pipe.out[-4:]) == b"\x00\x01{}"
    assert got == [(b"a/b", b"hey")] and not c._ping_unanswered and pipe.at == len(incoming)


def test_publish_qos1_without_an_acknowledgement_raises_a_timeout():
    c, _ = _client()
    _raises(lambda: c.publish(b"t", b"m", qos=1), OSError, errno.ETIMEDOUT)


def test_nothing_is_read_past_the_deadline_however_fast_it_comes():
    # timeout 0: the deadline has passed before the first byte, though the whole PUBACK is there
    c, pipe = _client(b"\x40\x02\x00\x01")
    c.timeout_s = 0
    _raises(lambda: c.publish(b"t", b"m", qos=1), OSError, errno.ETIMEDOUT)
    assert pipe.at == 0


def test_qos2_is_refused_before_anything_is_sent():
    c, pipe = _client()
    _raises(lambda: c.publish(b"t", b"m", qos=2), ValueError)
    assert pipe.out == bytearray()


def test_packet_ids_run_from_1_to_65535_and_wrap_to_1():
    c, pipe = _client(b"\x40\x02\xff\xff" + b"\x40\x02\x00\x01")
    c.pid = 65534
    c.publish(b"t", b"", qos=1)
    c.publish(b"t", b"", qos=1)
    assert c.pid == 1


def test_a_packet_cut_off_by_a_closing_broker_raises_connection_reset():
    c, _ = _client(b"\x40\x02\x00", closed=True)
    _raises(lambda: c.publish(b"t", b"m", qos=1), OSError, errno.ECONNRESET)


def test_a_packet_the_broker_stops_sending_halfway_raises_a_timeout():
    c, _ = _client(b"\x90\x03\x00")
    _raises(lambda: c.subscribe(b"homeassistant/status"), OSError, errno.ETIMEDOUT)


def test_subscribe_sends_one_topic_and_a_refusal_raises():
    c, pipe = _client(b"\x90\x03\x00\x01\x00")
    c.subscribe(b"homeassistant/status")
    assert bytes(pipe.out) == b"\x82\x19\x00\x01\x00\x14homeassistant/status\x00"
    c, _ = _client(b"\x90\x03\x00\x01\x80")
    _raises(lambda: c.subscribe(b"homeassistant/status"), MQTTException, 0x80)


def test_check_msg_reads_nothing_when_nothing_came_and_hands_messages_to_the_callback():
    c, pipe = _client()
    got = []
    c.set_callback(lambda t, m: got.append((t, m)))
    c.check_msg()
    assert got == [] and pipe.out == bytearray()
    pipe.incoming = b"\x30\x1c\x00\x14homeassistant/statusonline"
    c.check_msg()
    assert got == [(b"homeassistant/status", b"online")]


def test_an_oversize_message_is_skipped_and_a_qos1_one_still_acknowledged():
    # topic and payload longer than max_incoming (32): read through and dropped, never kept whole
    body = b"\x00\x03a/b" + b"\x12\x34" + b"z" * 100
    incoming = b"\x32" + _length(len(body)) + body + b"\x30\x05\x00\x01cok"
    c, pipe = _client(incoming, chunk=7)
    got = []
    c.set_callback(lambda t, m: got.append((t, m)))
    c.check_msg()
    assert bytes(pipe.out) == b"\x40\x02\x12\x34"
    assert c.dropped == 1 and got == [(b"c", b"ok")]


def test_a_ping_still_unanswered_at_the_next_ping_means_the_link_is_dead():
    c, pipe = _client()
    c.ping()
    assert bytes(pipe.out) == b"\xc0\x00"
    _raises(c.ping, OSError, errno.ETIMEDOUT)
    c, pipe = _client()
    c.ping()
    pipe.incoming = b"\xd0\x00"
    c.check_msg()
    c.ping()  # answered: no error


def test_an_unexpected_packet_type_is_an_error():
    c, _ = _client(b"\x20\x02\x00\x00")  # a CONNACK on an open connection
    _raises(c.check_msg, OSError)


class FakeNet:
    # stands in for the socket and select modules in mqtt_client, to count look-ups and see the order of
    # calls on the socket; each socket made is a Pipe that answers CONNECT with CONNACK
    POLLIN = 1

    def __init__(self):
        self.lookups = 0
        self.refuse = False
        self.calls = []

    def getaddrinfo(self, host, port):
        self.lookups += 1
        return [(2, 1, 0, "", ("10.0.0.%d" % self.lookups, port))]

    def socket(self):
        net = self
        pipe = Pipe(b"\x20\x02\x00\x00")

        def settimeout(t):
            net.calls.append(("settimeout", t))

        def connect(addr):
            net.calls.append(("connect", addr))
            if net.refuse:
                raise OSError(errno.ECONNREFUSED)

        def setblocking(flag):
            net.calls.append(("setblocking", flag))

        pipe.settimeout, pipe.connect, pipe.setblocking = settimeout, connect, setblocking
        return pipe

    def poll(self):
        return self

    def register(self, sock, events):
        self.polled = sock

    def ipoll(self, ms):
        return self.polled.ipoll(ms)

    def wrap_socket(self, sock, server_hostname=None):
        self.calls.append(("wrap_socket", server_hostname))
        return sock


def _with_net(f):
    import mqtt_client

    net = FakeNet()
    real = mqtt_client.socket, mqtt_client.select
    mqtt_client.socket = mqtt_client.select = net
    try:
        f(net)
    finally:
        mqtt_client.socket, mqtt_client.select = real


def test_the_broker_is_looked_up_once_and_again_only_after_a_connect_to_it_failed():
    def run(net):
        c = MQTTClient("han-x", "broker.local", 1883, timeout_s=3)
        c.connect()
        c.connect()
        assert net.lookups == 1 and c.addr == ("10.0.0.1", 1883)
        net.refuse = True
        _raises(c.connect, OSError, errno.ECONNREFUSED)
        assert c.addr is None
        net.refuse = False
        c.connect()
        assert net.lookups == 2 and c.addr == ("10.0.0.2", 1883)

    _with_net(run)


def test_the_socket_gets_its_timeout_before_connect_and_tls_and_is_never_set_blocking():
    def run(net):
        c = MQTTClient("han-x", "broker.lan", 8883, ssl=net, timeout_s=3)
        c.connect()
        assert net.calls == [("settimeout", 3), ("connect", ("10.0.0.1", 8883)), ("wrap_socket", "broker.lan")]
        c.publish(b"t", b"m")
        c.check_msg()
        assert not [call for call in net.calls if call[0] == "setblocking"]

    _with_net(run)
