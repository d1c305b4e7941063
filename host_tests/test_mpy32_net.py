# test_mpy32_net.py Checks the 32-bit runtime's sockets (tools/mpy32_net.mjs) against real TCP peers: the ESP32's semantics.

import socket
import subprocess
import threading
import time

import pytest

from harness import free_port
from harness32 import NODE, RUNNER, missing


@pytest.fixture(autouse=True, scope="module")
def _runtime():
    # the 32-bit runtime is part of make test (make node-deps installs it): missing is a failure, not a skip
    if missing():
        pytest.fail(missing())


# the ESP32's errno numbers (newlib), which the stand-in raises
EAGAIN, ECONNRESET, ECONNREFUSED, EADDRINUSE, ETIMEDOUT, EINPROGRESS, ENOTCONN = 11, 104, 111, 112, 116, 119, 128


def wasm(tmp_path, code, timeout=60):
    # run `code` on the 32-bit MicroPython with real sockets; -> its stdout lines (it must exit 0)
    script = tmp_path / "check.py"
    script.write_text(code)
    p = subprocess.run([NODE, RUNNER, "-X", "heapsize=64K", "--net", str(script)], capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout.split("\n")


def peer(handler):
    # a CPython TCP server on a port of its own; handler(conn) runs for each connection in a thread
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(30)

    def serve():
        try:
            while True:
                conn, _ = server.accept()
                threading.Thread(target=handler, args=(conn,), daemon=True).start()
        except OSError:
            pass

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def test_a_refused_connect_a_timed_out_recv_and_a_name_that_does_not_resolve_raise_the_esp32s_errors(tmp_path):
    silent, port = peer(lambda conn: time.sleep(5))
    out = wasm(tmp_path, """
import socket
s = socket.socket()
try:
    s.connect(("127.0.0.1", %d))
except OSError as e:
    print("refused", e.args[0])
s = socket.socket()
s.settimeout(0.3)
s.connect(socket.getaddrinfo("localhost", %d)[0][-1])
try:
    s.recv(10)
except OSError as e:
    print("recv", e.args[0])
try:
    socket.getaddrinfo("no-such-host.invalid", 80)
except OSError as e:
    print("gai", e.args[0])
""" % (free_port(), port))
    silent.close()
    assert "refused %d" % ECONNREFUSED in out and "recv %d" % ETIMEDOUT in out and "gai -202" in out


def test_connect_honours_the_timeout(tmp_path):
    # a listener that never accepts, with its backlog full: a further SYN gets no answer
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    port = full.getsockname()[1]
    waiting = []
    for _ in range(4):  # fill the accept queue (the kernel takes backlog + 1)
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        waiting.append(c)
    out = wasm(tmp_path, """
import socket
s = socket.socket()
s.settimeout(1)
try:
    s.connect(("127.0.0.1", %d))
    print("connected")
except OSError as e:
    print("connect", e.args[0])
""" % port)
    for c in waiting + [full]:
        c.close()
    assert "connect %d" % ETIMEDOUT in out


def test_non_blocking_reads_say_eagain_or_none_and_setblocking_true_clears_the_timeout(tmp_path):
    def late(conn):
        time.sleep(1.0)  # longer than the timeout the script sets, then cleared
        conn.sendall(b"late")
        time.sleep(2)

    server, port = peer(late)
    out = wasm(tmp_path, """
import socket
s = socket.socket()
s.connect(("127.0.0.1", %d))
s.setblocking(False)
try:
    s.recv(10)
except OSError as e:
    print("recv", e.args[0])
print("readinto", s.readinto(bytearray(4)), "read", s.read(4))
s.settimeout(0.2)
s.setblocking(True)  # on the ESP32 this means: wait for ever
print("got", s.recv(10))
""" % port)
    server.close()
    assert "recv %d" % EAGAIN in out and "readinto None read None" in out and "got b'late'" in out


def test_a_non_blocking_connect_is_in_progress_until_poll_says_writable(tmp_path):
    received = []
    server, port = peer(lambda conn: received.append(conn.recv(100)))
    out = wasm(tmp_path, """
import socket, select
s = socket.socket()
s.setblocking(False)
try:
    s.connect(("127.0.0.1", %d))
except OSError as e:
    print("connect", e.args[0])
p = select.poll()
p.register(s, select.POLLOUT)
print("ready", [ev for o, ev in p.poll(5000) if o is s])
s.setblocking(True)
s.sendall(b"hello")
s.close()
""" % port)
    time.sleep(0.5)
    server.close()
    assert "connect %d" % EINPROGRESS in out and "ready [%d]" % 4 in out and received == [b"hello"]


def test_a_server_accepts_polls_and_reads_what_its_clients_send(tmp_path):
    port = free_port()
    taken = socket.create_server(("127.0.0.1", 0))

    def clients():
        time.sleep(1.5)
        with socket.create_connection(("127.0.0.1", port)) as a, socket.create_connection(("127.0.0.1", port)) as b:
            a.sendall(b"GET / HTTP/1.0\r\n\r\n")
            b.sendall(b"x" * 100000)
            time.sleep(1.5)

    threading.Thread(target=clients, daemon=True).start()
    out = wasm(tmp_path, """
import socket, select
try:
    socket.socket().bind(("127.0.0.1", %d))
except OSError as e:
    print("bind", e.args[0])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(socket.getaddrinfo("127.0.0.1", %d)[0][-1])
srv.listen(2)
srv.setblocking(False)
try:
    srv.accept()
except OSError as e:
    print("accept", e.args[0])
p = select.poll()
p.register(srv, select.POLLIN)
conns = {}
total = 0
while len(conns) < 2 or total < 100000 + 18:
    for o, ev in p.ipoll(5000):
        if o is srv:
            c, addr = srv.accept()
            c.setblocking(False)
            conns[c] = addr[0]
            p.register(c, select.POLLIN)
        else:
            buf = bytearray(512)
            n = o.readinto(buf)
            total += n or 0
print("peers", sorted(conns.values()), "bytes", total)
""" % (taken.getsockname()[1], port))
    taken.close()
    assert "bind %d" % EADDRINUSE in out and "accept %d" % EAGAIN in out
    assert "peers ['127.0.0.1', '127.0.0.1'] bytes 100018" in out


def test_the_peers_close_reads_as_the_end_and_a_reset_as_econnreset_once(tmp_path):
    def close(conn):
        conn.sendall(b"bye")
        conn.close()

    def reset(conn):
        time.sleep(0.3)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # close with RST
        conn.close()

    s1, closing = peer(close)
    s2, resetting = peer(reset)
    out = wasm(tmp_path, """
import socket, select, time
s = socket.socket()
s.connect(("127.0.0.1", %d))
print("read", s.read(10), s.recv(10), s.recv(10))
r = socket.socket()
r.connect(("127.0.0.1", %d))
p = select.poll()
p.register(r, select.POLLIN)
print("events", p.poll(5000)[0][1])
p.modify(r, select.POLLIN | select.POLLHUP)
print("with hup", p.poll(0)[0][1])
for _ in range(2):
    try:
        r.recv(10)
    except OSError as e:
        print("recv", e.args[0])
try:
    p.modify(socket.socket(), select.POLLIN)
except OSError as e:
    print("modify", e.args[0])
""" % (closing, resetting))
    s1.close()
    s2.close()
    assert "read b'bye' b'' b''" in out
    assert "events 1" in out and "with hup 17" in out  # POLLHUP (16) only once asked for
    assert "recv %d" % ECONNRESET in out and "recv %d" % ENOTCONN in out and "modify 2" in out


def test_bytes_go_both_ways_unchanged_and_a_call_allocates_only_its_result(tmp_path):
    def echo(conn):
        while True:
            data = conn.recv(65536)
            if not data:
                break
            conn.sendall(data)
        conn.close()

    server, port = peer(echo)
    out = wasm(tmp_path, """
import socket, gc
s = socket.socket()
s.connect(("127.0.0.1", %d))
data = bytes(range(256)) * 400
s.sendall(data)
back = s.read(len(data))
print("same", back == data)
buf = bytearray(256)
s.write(b"z" * 256)
gc.collect()
before = gc.mem_alloc()
n = s.readinto(buf)
print("readinto", n, gc.mem_alloc() - before)
s.close()
""" % port)
    server.close()
    assert "same True" in out
    # the JS call's own proxy (16 bytes) is all: the bytes go straight into the buffer
    assert any(line.startswith("readinto 256 ") and int(line.split()[2]) <= 32 for line in out), out
