# replay.py Provides a stand-in meter: plays a HAN capture into a TCP socket, a pty or a serial port.
# CPython, Linux/macOS. The capture format (hanlog text or raw bytes) is in docs/capture-format.md.
#
#   python3 tools/replay.py tools/replays/aidon.hanlog                  # TCP on 127.0.0.1:7700
#   python3 tools/replay.py --pty /tmp/han tools/replays/kaifa.hanlog   # /tmp/han -> /dev/pts/N
#   python3 tools/replay.py --serial /dev/ttyUSB0 --parity N tools/replays/kamstrup.hanlog
#
# Records go out at their timestamps, and the bytes of a record at 240 bytes/s (2400 baud 8N1; 8E1 carries 218) in
# chunks of about 50 ms, as on the wire. While nobody listens (no TCP client, nobody has the pty
# open) the replay waits, and then carries on where it was instead of rushing to catch up.
# Exit status: 0 at the end of the capture or on Ctrl-C/SIGTERM, 2 on a usage or setup error.

import argparse
import fcntl
import os
import select
import signal
import socket
import struct
import sys
import termios
import time
import tty

import hanlog

_RATE = hanlog.BYTES_PER_SECOND
_CHUNK_S = 0.05  # seconds of wall time per write
_SLACK_S = 0.5  # a write held up longer than this shifts the schedule rather than bursting


class Stop(Exception):
    pass


def fail(message):
    sys.stderr.write("replay: %s\n" % message)
    sys.exit(2)


def log(message):
    print("replay: " + message, flush=True)


class TcpTarget:
    # one client at a time; sends wait for a client, a dropped client's chunk goes to the next one
    def __init__(self, host, port, verbose):
        self.verbose, self.client = verbose, None
        self.server = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart at once after a stop
        try:
            self.server.bind((host, port))
            self.server.listen(1)
        except OSError as e:
            self.server.close()
            fail("cannot listen on %s:%d: %s" % (host, port, e.strerror or e))
        self.name = "tcp %s:%d" % (host, self.server.getsockname()[1])

    def _drop(self):
        if self.verbose:
            log("client gone")
        self.client.close()
        self.client = None

    def idle(self, seconds):
        # sleep, reading and discarding what the client sends so a hang-up is noticed early
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            if self.client is None:
                time.sleep(left)
                continue
            if select.select([self.client], [], [], left)[0]:
                try:
                    if self.client.recv(4096):
                        continue
                except OSError:
                    pass
                self._drop()

    def send(self, data):
        # True when it had to wait for a client
        waited = False
        while True:
            if self.client is None:
                waited = True
                self.client, peer = self.server.accept()
                self.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self.verbose:
                    log("client %s:%d connected" % peer[:2])
            try:
                self.client.sendall(data)
                return waited
            except OSError:
                self._drop()

    def finish(self):
        # a graceful close: FIN after the last byte, then wait (briefly) for the client to close
        if self.client is not None:
            try:
                self.client.shutdown(socket.SHUT_WR)
                self.client.settimeout(2)
                while self.client.recv(4096):
                    pass
            except OSError:
                pass

    def close(self):
        for s in (self.client, self.server):
            if s is not None:
                s.close()


class PtyTarget:
    # a pseudo-terminal whose slave LINK points to; writes wait while nobody has the slave open
    def __init__(self, link, verbose):
        self.link, self.verbose = link, verbose
        if os.path.lexists(link) and not os.path.islink(link):
            fail("%s exists and is not a symlink; not replacing it" % link)
        self.master, slave = os.openpty()
        self.device = os.ttyname(slave)
        tty.setraw(slave)  # no echo, no CR/LF translation: bytes pass unchanged; kept after close
        os.close(slave)  # so the master reports a hang-up until a reader opens the slave
        try:
            if os.path.islink(link):
                os.unlink(link)  # a stale link from an earlier run
            os.symlink(self.device, link)
        except OSError as e:
            os.close(self.master)
            fail("cannot create %s: %s" % (link, e.strerror or e))
        self.name = "pty %s (%s)" % (link, self.device)
        self.poll = select.poll()
        self.poll.register(self.master, select.POLLIN)
        self.reader = False

    def _has_reader(self, timeout_ms=0):
        # POLLHUP while no process has the slave open; POLLIN: the reader wrote something, discard it
        for _, event in self.poll.poll(timeout_ms):
            if event & select.POLLHUP:
                return self._note(False)
            if event & select.POLLIN:
                try:
                    os.read(self.master, 4096)
                except OSError:
                    return self._note(False)
        return self._note(True)

    def _note(self, reader):
        if self.verbose and reader != self.reader:
            log("reader %s %s" % ("opened" if reader else "closed", self.device))
        self.reader = reader
        return reader

    def idle(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if not self._has_reader(int((end - time.monotonic()) * 1000)):
                time.sleep(min(0.05, max(0, end - time.monotonic())))

    def send(self, data):
        # True when it had to wait for a reader
        waited = False
        while data:
            if not self._has_reader():
                waited = True
                time.sleep(0.05)
                continue
            try:
                data = data[os.write(self.master, data) :]
            except OSError:
                time.sleep(0.05)
        return waited

    def finish(self):
        # closing the master throws away what the reader has not read yet (the kernel may not even
        # have queued it for reading), so wait until the reader hangs up, or has had nothing
        # unread for 0.5 s; at most 5 s
        end, quiet = time.monotonic() + 5, None
        while time.monotonic() < end and self._has_reader(20):
            if self._unread():
                quiet = None
            elif quiet is None:
                quiet = time.monotonic()
            elif time.monotonic() - quiet > 0.5:
                return

    def _unread(self):
        # bytes waiting in the slave's input queue
        try:
            fd = os.open(self.device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return 0
        try:
            return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
        finally:
            os.close(fd)

    def close(self):
        os.close(self.master)
        try:
            if os.path.islink(self.link) and os.readlink(self.link) == self.device:
                os.unlink(self.link)
        except OSError:
            pass


class SerialTarget:
    def __init__(self, device, baud, parity):
        try:
            import serial
        except ImportError:
            fail("--serial needs pyserial: pip install pyserial")
        try:
            self.port = serial.Serial(device, baud, bytesize=8, parity=parity, stopbits=1)
        except (serial.SerialException, ValueError) as e:
            fail("cannot open %s: %s" % (device, e))
        self.name = "serial %s %d 8%s1" % (device, baud, parity)

    def idle(self, seconds):
        time.sleep(max(0, seconds))

    def send(self, data):
        self.port.write(data)
        return False

    def finish(self):
        self.port.flush()  # wait until the UART has sent the last byte

    def close(self):
        self.port.close()


def loop_period(records):
    # a looping capture starts again one usual push interval (the median gap) after its last record
    times = [t for t, _ in records]
    gaps = sorted(b - a for a, b in zip(times, times[1:]) if b > a) or [len(records[-1][1]) / _RATE]
    return times[-1] - times[0] + gaps[len(gaps) // 2]


def play(records, target, speed, loop, start_delay, verbose):
    pace(_timeline(records, loop), target, speed, start_delay, verbose)


def _timeline(records, loop):
    # (seconds after the first record, bytes) of the capture, again and again when looping
    first = records[0][0]
    period = loop_period(records)
    offset = 0.0  # capture time added on each pass of a looping replay
    while True:
        for t, data in records:
            yield t - first + offset, data
        if not loop:
            return
        offset += period


def pace(items, target, speed, start_delay, verbose):
    # send (seconds from the start, bytes) items at their times divided by speed, the bytes of each
    # at the wire's rate; items may be a generator that never ends (tools/virtual_meter.py)
    chunk = max(1, round(_RATE * speed * _CHUNK_S))
    zero = time.monotonic() + start_delay  # wall time of capture time 0
    wire_free = 0.0  # capture time at which the previous record has gone out
    for t, data in items:
        start = max(t, wire_free)  # a record waits for the one before it
        for i in range(0, len(data), chunk):
            due = zero + (start + i / _RATE) / speed
            target.idle(due - time.monotonic())
            if verbose and i == 0:
                log("%.3f s  %d bytes  %s" % (start, len(data), data[:8].hex()))
            waited = target.send(data[i : i + chunk])
            late = time.monotonic() - due
            if late > 0 and (waited or late > _SLACK_S):  # held up: carry on from here, no burst
                zero += late
        wire_free = start + len(data) / _RATE


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="replay.py",
        description="Play a HAN capture (hanlog text or raw bytes) as a meter would send it.",
        epilog="Without --pty or --serial it listens on TCP 127.0.0.1:7700.",
    )
    p.add_argument("capture", help="hanlog file (docs/capture-format.md) or raw byte capture")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--tcp", metavar="HOST:PORT", help="listen here and stream to one client at a time")
    out.add_argument("--pty", metavar="LINK", help="create a pseudo-terminal and make LINK a symlink to it")
    out.add_argument("--serial", metavar="DEVICE", help="write to this serial port (needs pyserial)")
    p.add_argument("--baud", type=int, default=2400, help="serial baud rate (default 2400)")
    p.add_argument("--parity", choices="ENO", default="E", help="serial parity (default E; Kamstrup: N)")
    p.add_argument("--speed", type=float, default=1.0, metavar="N", help="play N times faster (default 1)")
    p.add_argument("--loop", action="store_true", help="repeat the capture forever")
    p.add_argument("--start-delay", type=float, default=0.0, metavar="S", help="wait S seconds first")
    p.add_argument("-v", "--verbose", action="store_true", help="print a line per record")
    args = p.parse_args(argv)
    if not args.speed > 0:
        p.error("--speed must be more than 0")
    if args.start_delay < 0:
        p.error("--start-delay cannot be negative")
    return args


def open_target(args):
    if args.pty:
        return PtyTarget(args.pty, args.verbose)
    if args.serial:
        return SerialTarget(args.serial, args.baud, args.parity)
    host, _, port = (args.tcp or "127.0.0.1:7700").rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        fail("--tcp wants HOST:PORT, e.g. 127.0.0.1:7700, not %r" % args.tcp)
    return TcpTarget(host.strip("[]"), int(port), args.verbose)


def _stop(signum, frame):
    raise Stop()


def main(argv):
    args = parse_args(argv)
    problems = []  # malformed lines: named, skipped, and the rest of the capture played
    try:
        records = hanlog.read(args.capture, problems)
    except OSError as e:
        fail("cannot read %s: %s" % (args.capture, e.strerror or e))
    except ValueError as e:
        fail(str(e))
    for problem in problems:
        sys.stderr.write("replay: %s\n" % problem)
    if not records:
        fail("%s holds no bytes" % args.capture)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    target = open_target(args)
    try:
        looping = ", looping" if args.loop else ""
        log("%s -> %s at %gx%s" % (os.path.basename(args.capture), target.name, args.speed, looping))
        play(records, target, args.speed, args.loop, args.start_delay, args.verbose)
        target.finish()
    except Stop:
        pass
    finally:
        target.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
