# bad_broker.py Provides BadBroker: an MQTT broker that misbehaves on purpose, on loopback, for the firmware tests.
# CPython, threads. It speaks just enough MQTT to misbehave at the right moment; the good broker in
# the same tests is always the real mosquitto.
#
# Modes:
#   silent     accepts the TCP connection (and, with TLS, not even the handshake) and never answers
#   stall      answers CONNECT, then sends half of its next answer (SUBACK, PUBACK or PINGRESP) and stops
#   close      answers CONNECT, then sends half of its next answer and closes the connection
#   no_puback  a good broker in all but one thing: it never acknowledges a QoS 1 PUBLISH; it answers
#              one with a message on the topic the client subscribed to ("offline"), as a broker
#              passing on other traffic would (a client that loses its read timeout after the first
#              byte of a packet, as umqtt.simple's wait_msg() does on the ESP32, then hangs)

import socket
import ssl
import threading

from harness import free_port

MODES = ("silent", "stall", "close", "no_puback")


class BadBroker:
    def __init__(self, mode, port=None, tls=None):
        # tls: (certfile, keyfile) to speak TLS as a broker with that certificate
        assert mode in MODES, mode
        self.mode = mode
        self.port = port or free_port()
        self.context = None
        if tls:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(*tls)
        self.lock = threading.Lock()
        self.connections = 0  # TCP connections accepted
        self.logins = 0  # CONNECT packets received
        self.qos1_publishes = 0  # QoS 1 PUBLISH packets received (never acknowledged in no_puback)
        self.half_answers = 0  # answers cut off halfway (stall, close)
        self.subscribed = None  # the topic of the client's last SUBSCRIBE
        self.stopping = threading.Event()
        self.conns = []
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", self.port))
        self.server.listen(8)
        self.server.settimeout(0.2)
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def count(self, name):
        with self.lock:
            return getattr(self, name)

    def stop(self):
        # close the listener and every connection: the port is free for the good broker
        self.stopping.set()
        for t in self.threads:
            t.join(10)
        self.server.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass

    def _add(self, name):
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)

    def _accept(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:  # the 0.2 s timeout: look at `stopping` again
                continue
            self._add("connections")
            self.conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, conn):
        conn.settimeout(0.2)
        try:
            if self.mode == "silent":
                while not self.stopping.is_set() and self._recv(conn, 1024) != b"":
                    pass
                return
            if self.context:
                conn.settimeout(10)
                conn = self.context.wrap_socket(conn, server_side=True)
                self.conns.append(conn)
                conn.settimeout(0.2)
            answered = False
            while not self.stopping.is_set():
                packet = self._packet(conn)
                if packet is None:
                    return
                kind, body = packet
                reply = self._reply(kind, body)
                if reply is None:
                    continue
                if kind == 0x10 or self.mode == "no_puback" or answered:
                    if not (answered and self.mode in ("stall", "close")):
                        conn.sendall(reply)
                    continue
                answered = True  # the first answer after CONNACK: cut off halfway
                conn.sendall(reply[: len(reply) // 2])
                self._add("half_answers")
                if self.mode == "close":
                    return
        except OSError:
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _reply(self, kind, body):
        if kind == 0x10:
            self._add("logins")
            return b"\x20\x02\x00\x00"
        if kind == 0x80:  # SUBSCRIBE (one topic): granted at QoS 0
            self.subscribed = body[4 : 4 + (body[2] << 8 | body[3])]
            return b"\x90\x03" + body[:2] + b"\x00"
        if kind == 0xC0:
            return b"\xd0\x00"
        if kind == 0x30:
            return None  # QoS 0: no answer
        if kind == 0x32:
            self._add("qos1_publishes")
            if self.mode == "no_puback":
                if not self.subscribed:
                    return None
                rest = b"\x00" + bytes([len(self.subscribed)]) + self.subscribed + b"offline"
                return b"\x30" + bytes([len(rest)]) + rest  # no PUBACK, but other traffic
            topic_len = body[0] << 8 | body[1]
            return b"\x40\x02" + body[2 + topic_len : 4 + topic_len]
        return None

    def _recv(self, conn, n):
        # bytes, or b"" once the peer closed; None while nothing came (the 0.2 s timeout)
        try:
            return conn.recv(n)
        except (socket.timeout, ssl.SSLWantReadError):
            return None

    def _exactly(self, conn, n):
        data = b""
        while len(data) < n:
            if self.stopping.is_set():
                return None
            more = self._recv(conn, n - len(data))
            if more == b"":
                return None
            data += more or b""
        return data

    def _packet(self, conn):
        # (first byte with the QoS 1 flag kept for PUBLISH, body) or None once the client has gone
        head = self._exactly(conn, 1)
        if head is None:
            return None
        n, shift = 0, 0
        while True:
            b = self._exactly(conn, 1)
            if b is None:
                return None
            n |= (b[0] & 0x7F) << shift
            shift += 7
            if not b[0] & 0x80:
                break
        body = self._exactly(conn, n) if n else b""
        if body is None:
            return None
        kind = head[0] & 0xF0
        if kind == 0x30:
            kind |= head[0] & 0x06
        return kind, body
