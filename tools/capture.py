# capture.py Provides a PC command that records what a HAN port sends into a hanlog file, checking frames as it goes.
# CPython with pyserial (taken from the project's .venv when this Python has none); Linux, macOS or Windows. The hanlog format is in docs/capture-format.md.
#
#   python3 tools/capture.py /dev/ttyUSB0                          # 2400 8E1 until Ctrl-C
#   python3 tools/capture.py /dev/ttyUSB0 --parity N --seconds 120 # Kamstrup, two minutes
#   python3 tools/capture.py /dev/ttyUSB0 --frames 50 -o my-meter.hanlog
#
# Each burst of bytes (no pause of 50 ms or more, at most 1 s long) becomes one record, stamped with
# the seconds since the port was opened when its first byte was read; the file is flushed after
# every record. The bytes also go through the firmware's own HDLC assembler (lib/hdlc.py), and a
# status line every 5 s counts bytes, frames that passed their checksums and checksum errors.
# Exit status: 0 at the end (--seconds, --frames, Ctrl-C, SIGTERM), 1 if the port went away during
# the capture (what arrived is kept), 2 on a usage or setup error.

import argparse
import datetime
import os
import signal
import stat
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(_ROOT, "lib"))
sys.path.append(os.path.join(_ROOT, "host_tests", "shims"))  # micropython.const for CPython

from hdlc import Assembler  # noqa: E402

_READ_TIMEOUT_S = 0.05  # a read waits this long for a first byte; a pause this long ends a record
_RECORD_MAX_S = 1.0  # a record of an unbroken stream is cut after this long
_STATUS_EVERY_S = 5.0
_PARITY_CHECK_BYTES = 400  # more than any list 1 or list 2 frame: one should have passed by now
_SILENCE_WARN_S = 30  # list 2 comes every 10 s at the latest
_PARITIES = {"E": "even", "N": "none", "O": "odd"}
_REEXEC = "HAN_CAPTURE_VENV"  # set when capture.py started itself again with the .venv's Python


_stop_signal = []  # set by SIGINT/SIGTERM; the loop checks it at least every 50 ms


def fail(message):
    sys.stderr.write("capture: %s\n" % message)
    sys.exit(2)


def say(message):
    print("capture: " + message, flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="capture.py",
        description="Record what a HAN port sends (USB M-Bus adapter or any serial device) into a hanlog "
        "file, checking HDLC frames as they arrive.",
        epilog="Aidon, Kaifa and Landis+Gyr send 2400 8E1 (the default); Kamstrup 2400 8N1 (--parity N). "
        "The file plays back with tools/replay.py and decodes with tools/han_decode.py; "
        "docs/capture-format.md describes it.",
    )
    p.add_argument("port", metavar="PORT", help="serial device, e.g. /dev/ttyUSB0 or COM3 (pyserial URLs such as socket://HOST:PORT work too)")
    p.add_argument("-o", "--output", metavar="FILE", help="where to write (default capture-YYYYmmdd-HHMMSS.hanlog, .bin with --raw)")
    p.add_argument("--baud", type=int, default=2400, help="baud rate (default 2400)")
    p.add_argument("--parity", choices="ENO", default="E", help="E, N or O (default E; Kamstrup: N)")
    p.add_argument("--seconds", type=float, metavar="N", help="stop after N seconds (default: run until Ctrl-C)")
    p.add_argument("--frames", type=int, metavar="N", help="stop after N HDLC frames have passed their checksums")
    p.add_argument("--raw", action="store_true", help="write the bytes only, no timestamps (like cat PORT > FILE)")
    args = p.parse_args(argv)
    if args.baud <= 0:
        p.error("--baud must be more than 0")
    if args.seconds is not None and not args.seconds > 0:
        p.error("--seconds must be more than 0")
    if args.frames is not None and args.frames <= 0:
        p.error("--frames must be more than 0")
    if args.output is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        args.output = "capture-%s.%s" % (stamp, "bin" if args.raw else "hanlog")
    return args


def check_port_path(port):
    # clear words for the usual mistakes, before pyserial gives its own
    if os.name != "posix" or "://" in port:
        return
    try:
        mode = os.stat(port).st_mode
    except FileNotFoundError:
        fail("no such port: %s (is the adapter plugged in? see ls /dev/ttyUSB* /dev/ttyACM*)" % port)
    except PermissionError:
        fail(permission_message(port))
    except OSError as e:
        fail("cannot use %s: %s" % (port, e.strerror or e))
    if stat.S_ISDIR(mode):
        fail("%s is a directory, not a serial port (try ls /dev/ttyUSB* /dev/ttyACM*)" % port)
    if not stat.S_ISCHR(mode):
        fail("%s is not a serial port but a file (a capture to decode goes to tools/han_decode.py)" % port)


def permission_message(port):
    return "permission denied on %s: add yourself to the dialout group: sudo usermod -aG dialout $USER, then log in again" % port


def open_port(serial, port, baud, parity):
    check_port_path(port)
    try:
        return serial.serial_for_url(port, baudrate=baud, bytesize=8, parity=parity, stopbits=1, timeout=_READ_TIMEOUT_S)
    except (serial.SerialException, OSError) as e:
        code = getattr(e, "errno", None)
        if code == 13:
            fail(permission_message(port))
        if code == 2:
            fail("no such port: %s (is the adapter plugged in? see ls /dev/ttyUSB* /dev/ttyACM*)" % port)
        if "Could not configure port" in str(e):  # opened, but termios refused it: not a terminal
            fail("%s is not a serial port: %s" % (port, e))
        if code == 16:
            fail("%s is busy: another program has it open (a serial monitor, ModemManager, a running capture?)" % port)
        fail("cannot use %s as a serial port: %s" % (port, e))
    except ValueError as e:
        fail("cannot set up %s: %s" % (port, e))


def import_serial():
    # pyserial from this Python, else from the project's .venv, where `make venv` puts it: so the
    # README's `python3 tools/capture.py ...` works with a system Python that has no pyserial
    try:
        import serial

        return serial
    except ImportError:
        pass
    for venv in (os.path.join(_ROOT, ".venv", "bin", "python"), os.path.join(_ROOT, ".venv", "Scripts", "python.exe")):
        if os.path.exists(venv) and os.environ.get(_REEXEC) != venv:
            os.environ[_REEXEC] = venv  # once: a .venv without pyserial must not loop
            sys.stdout.flush()
            os.execv(venv, [venv, os.path.abspath(__file__)] + sys.argv[1:])
    fail("pyserial is missing from this Python (%s). Run `make venv` once in %s: it installs pyserial "
         "into the project's .venv, and this same command then uses it by itself. Or install it for this "
         "Python (Debian, Ubuntu: sudo apt install python3-serial; elsewhere: pip install pyserial)" % (sys.executable, _ROOT))


def other_parity_hint(parity):
    if parity == "E":
        return "try --parity N"
    if parity == "N":
        return "try --parity E"
    return "try --parity E or --parity N"


class Writer:
    # hanlog text or raw bytes, flushed after every record so a killed capture keeps its data
    def __init__(self, path, raw, header_lines):
        self.path, self.raw = path, raw
        try:
            self.f = open(path, "wb")
        except OSError as e:
            fail("cannot write %s: %s" % (path, e.strerror or e))
        if not raw:
            self._put("".join("# %s\n" % line for line in header_lines).encode())

    def _put(self, data):
        self.f.write(data)
        self.f.flush()

    def record(self, seconds, data):
        self._put(bytes(data) if self.raw else ("%.3f %s\n" % (seconds, bytes(data).hex())).encode())

    def comment(self, line):
        if not self.raw:
            self._put(("# %s\n" % line).encode())

    def close(self):
        self.f.close()


class Capture:
    def __init__(self, args, writer):
        self.args, self.writer = args, writer
        self.assembler = Assembler(lambda buf, start, end: None)
        self.bytes_in = 0
        self.pending = bytearray()  # the record being gathered
        self.pending_t = 0.0  # its time, seconds since start
        self.parity_warned = self.silence_warned = False
        self.start = time.monotonic()

    def elapsed(self):
        return time.monotonic() - self.start

    def take(self, data):
        if not self.pending:
            self.pending_t = self.elapsed()
        self.pending += data
        self.bytes_in += len(data)
        self.assembler.feed(data, len(data))
        if self.elapsed() - self.pending_t >= _RECORD_MAX_S:
            self.flush()

    def flush(self):
        if self.pending:
            data, self.pending = self.pending, bytearray()
            self.writer.record(self.pending_t, data)

    def counts(self):
        a = self.assembler
        return "%d bytes, %d frames ok, %d bad HCS, %d bad FCS" % (self.bytes_in, a.frames_ok, a.bad_hcs, a.bad_fcs)

    def status(self):
        say("%5.0f s  %s" % (self.elapsed(), self.counts()))
        self.warnings()

    def warnings(self):
        a = self.assembler
        if not self.parity_warned and self.bytes_in >= _PARITY_CHECK_BYTES and not a.frames_ok:
            self.parity_warned = True
            say("warning: bytes arrive but no valid frame: wrong parity? Kamstrup sends 8N1, Aidon/Kaifa/L+G 8E1: %s "
                "(or the adapter's output is inverted)" % other_parity_hint(self.args.parity))
        if not self.silence_warned and not self.bytes_in and self.elapsed() >= _SILENCE_WARN_S:
            self.silence_warned = True
            say("warning: no bytes in %d s: has the grid company opened the HAN port? Is the adapter's cable "
                "in the meter's HAN socket?" % _SILENCE_WARN_S)

    def done(self):
        a = self.args
        if a.frames is not None and self.assembler.frames_ok >= a.frames:
            return "%d frames" % self.assembler.frames_ok
        if a.seconds is not None and self.elapsed() >= a.seconds:
            return "%g s" % a.seconds
        return None

    def run(self, port):
        next_status = self.start + _STATUS_EVERY_S
        while True:
            data = port.read(port.in_waiting or 1)  # everything waiting, or wait up to 50 ms for a byte
            if data:
                self.take(data)
                if not self.parity_warned:
                    self.warnings()
            else:
                self.flush()  # a pause: the burst is over
            reason = "stopped" if _stop_signal else self.done()
            if reason:
                return reason
            if time.monotonic() >= next_status:
                next_status += _STATUS_EVERY_S
                self.status()


def _stop(signum, frame):
    if _stop_signal:  # asked twice: the loop is stuck (a wedged driver?); everything read is on disk
        raise KeyboardInterrupt
    _stop_signal.append(signum)


def main(argv):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    serial = import_serial()
    setting = "%d 8%s1" % (args.baud, args.parity)
    port = open_port(serial, args.port, args.baud, args.parity)
    now = datetime.datetime.now().astimezone()
    header = [
        "HAN capture made by tools/capture.py on %s" % now.isoformat(timespec="seconds"),
        "port %s, %s (parity %s)" % (args.port, setting, _PARITIES[args.parity]),
        "meter: (maker, model, country; fill in before sharing)",
        "<seconds since the port was opened> <bytes of one burst, hex>",
    ]
    writer = Writer(args.output, args.raw, header)
    capture = Capture(args, writer)
    until = []
    if args.seconds is not None:
        until.append("%g s" % args.seconds)
    if args.frames is not None:
        until.append("%d frames" % args.frames)
    stops = "stops after %s or on Ctrl-C" % " or ".join(until) if until else "Ctrl-C stops"
    say("listening on %s at %s, writing %s%s; %s" % (args.port, setting, args.output, " (raw)" if args.raw else "", stops))
    status, why = 0, "stopped"
    try:
        why = capture.run(port)
    except KeyboardInterrupt:  # a second Ctrl-C: the loop was stuck
        why = "stopped"
    except (serial.SerialException, OSError) as e:
        sys.stderr.write("capture: %s went away (adapter unplugged?): %s\n" % (args.port, e))
        why, status = "port lost", 1
    finally:
        capture.flush()
        writer.comment("end (%s) after %.1f s: %s" % (why, capture.elapsed(), capture.counts()))
        writer.close()
        try:
            port.close()
        except (serial.SerialException, OSError):
            pass
    say("%s after %.1f s: %s; wrote %s" % (why, capture.elapsed(), capture.counts(), args.output))
    if capture.bytes_in and not capture.assembler.frames_ok:
        say("no frame passed its checksum: wrong parity? Kamstrup sends 8N1, Aidon/Kaifa/L+G 8E1: %s"
            % other_parity_hint(args.parity))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
