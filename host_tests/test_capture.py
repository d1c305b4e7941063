# test_capture.py Checks tools/capture.py: a replayed meter recorded through a pty, its errors and warnings. CPython only.

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from corpus import Pipeline, good_hdlc, _DIR

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TOOLS = os.path.join(_ROOT, "tools")
_CAPTURE = os.path.join(_TOOLS, "capture.py")
_MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
sys.path.insert(0, _TOOLS)
import hanlog  # noqa: E402

pytest.importorskip("serial", reason="tools/capture.py needs pyserial (requirements-dev.txt)")

_GARBAGE = b"\x00\x11garbage"  # no 7E: it cannot start a frame


class Proc:
    # a tool in a subprocess whose stdout lines are collected as they come
    def __init__(self, *args):
        self.p = subprocess.Popen([sys.executable] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line)

    def output(self):
        return "".join(self.lines)

    def wait_for(self, text, timeout=60):
        end = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if self.p.poll() is not None:
                self._reader.join(5)
                if any(text in line for line in self.lines):
                    return
                pytest.fail("exited %s before printing %r:\n%s%s" % (self.p.returncode, text, self.output(), self.p.stderr.read()))
            assert time.monotonic() < end, "timed out waiting for %r:\n%s" % (text, self.output())
            time.sleep(0.02)

    def finish(self, timeout=60):
        self.p.wait(timeout)
        self._reader.join(5)
        return self.p.returncode, self.output(), self.p.stderr.read()

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(10)
        for f in (self.p.stdout, self.p.stderr):
            f.close()


def _capture(*args):
    return subprocess.run([sys.executable, _CAPTURE] + list(args), capture_output=True, text=True, timeout=60)


def _start(tmp_path, capture_file, capture_args, replay_args=(), python=()):
    # Replay capture_file into a pty and record it with tools/capture.py. Opening the port empties
    # its input queue, so the replay must not send before the capture says it is listening: the
    # replay's --start-delay makes sure, and on a machine too slow for the delay it starts again
    # with a longer one.
    link = str(tmp_path / "han")
    for delay in (2, 6, 20):
        started = time.monotonic()
        replay = Proc(os.path.join(_TOOLS, "replay.py"), "--pty", link, "--speed", "20", "--start-delay", str(delay),
                      *replay_args, str(capture_file))
        try:
            end = time.monotonic() + 30
            while not os.path.lexists(link):
                assert replay.p.poll() is None, replay.p.stderr.read()
                assert time.monotonic() < end, "the replay never made its pty"
                time.sleep(0.02)
            capture = Proc(*(list(python) + [_CAPTURE, link] + list(capture_args)))
            try:
                capture.wait_for("listening on " + link)
                if time.monotonic() - started < delay:
                    return replay, capture
            except BaseException:
                capture.kill()
                raise
            capture.kill()
        except BaseException:
            replay.kill()
            raise
        replay.kill()
    pytest.fail("the capture never started listening before the replay's start delay ran out")


def _stop(*procs):
    for proc in procs:
        proc.kill()


def _kaifa_stream():
    # real Kaifa frames, each after some garbage; the last record is a frame, so a capture that
    # stops after the last frame has read every byte
    frames = good_hdlc("kaifa")
    records = []
    for i, r in enumerate(frames):
        records += [(i * 1.0, _GARBAGE), (i * 1.0 + 0.25, r["bytes"])]
    with open(_DIR + "expected.json") as f:
        expected = json.load(f)
    return records, [expected[r["id"]] for r in frames]


@pytest.mark.parametrize("raw", [False, True], ids=["hanlog", "raw"])
def test_a_replayed_meter_is_recorded_byte_for_byte_and_decodes_alike_on_both_runtimes(tmp_path, raw):
    records, expected = _kaifa_stream()
    sent = b"".join(data for _, data in records)
    frames = Pipeline().feed(sent).assembler.frames_ok
    assert frames == len(expected)
    source, got = tmp_path / "kaifa.hanlog", tmp_path / ("got.bin" if raw else "got.hanlog")
    hanlog.write(str(source), records, ["Kaifa, Norway, 2400 8E1: frames of host_tests/fixtures/kaifa.jsonl"])
    args = ["--parity", "E", "--frames", str(frames), "-o", str(got)] + (["--raw"] if raw else [])
    replay, capture = _start(tmp_path, source, args)
    try:
        code, out, err = capture.finish()
        assert code == 0, out + err
        assert "%d frames ok, 0 bad HCS, 0 bad FCS" % frames in out
        assert "wrong parity" not in out
        code, _, err = replay.finish()
        assert code == 0, err
    finally:
        _stop(capture, replay)
    if raw:
        assert got.read_bytes() == sent
    else:
        text = got.read_text()
        assert text.startswith("# HAN capture made by tools/capture.py on ")
        assert "# port %s, 2400 8E1" % (tmp_path / "han") in text
        assert text.rstrip().splitlines()[-1].startswith("# end (%d frames) after " % frames)
        assert b"".join(data for _, data in hanlog.read(str(got))) == sent
    outputs = []
    for runtime in (sys.executable, _MICROPYTHON):
        p = subprocess.run([runtime, os.path.join(_TOOLS, "han_decode.py"), str(got)], capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert [json.loads(line) for line in p.stdout.splitlines()] == expected
        assert b"frames_ok=%d bad_hcs=0 bad_fcs=0" % frames in p.stderr
        outputs.append(p.stdout)
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("parity,hint,stop", [("E", "try --parity N", signal.SIGINT), ("N", "try --parity E", signal.SIGTERM)])
def test_bytes_that_never_form_a_frame_give_the_wrong_parity_warning(tmp_path, parity, hint, stop):
    noise = bytes((i * 37 + 11) % 256 for i in range(600))  # a 7E now and then, never a valid frame
    source, got = tmp_path / "noise.hanlog", tmp_path / "got.hanlog"
    hanlog.write(str(source), [(0.0, noise[:300]), (1.0, noise[300:])])
    replay, capture = _start(tmp_path, source, ["--parity", parity, "--seconds", "120", "-o", str(got)], ["--loop"])
    try:
        capture.wait_for("bytes arrive but no valid frame: wrong parity? Kamstrup sends 8N1, Aidon/Kaifa/L+G 8E1: " + hint)
        capture.p.send_signal(stop)  # Ctrl-C, or kill: it stops and keeps what it got
        code, out, err = capture.finish()
        assert code == 0, out + err
        assert "stopped after" in out and "0 frames ok" in out
    finally:
        _stop(capture, replay)
    records = hanlog.read(str(got))
    assert sum(len(data) for _, data in records) >= 400
    assert got.read_text().rstrip().splitlines()[-1].startswith("# end (stopped) after ")


def test_a_missing_port_exits_2_and_says_so(tmp_path):
    port, out = str(tmp_path / "ttyUSB0"), tmp_path / "x.hanlog"
    p = _capture(port, "-o", str(out))
    assert p.returncode == 2
    assert "no such port: %s (is the adapter plugged in? see ls /dev/ttyUSB* /dev/ttyACM*)" % port in p.stderr
    assert not out.exists()


def test_a_path_that_is_no_serial_port_exits_2_and_says_so(tmp_path):
    # all of these fail as root too
    afile = tmp_path / "capture.hanlog"
    afile.write_text("# not a port\n")
    cases = [(str(tmp_path), "is a directory, not a serial port"), (str(afile), "is not a serial port")]
    if os.path.exists("/dev/null"):
        cases.append(("/dev/null", "/dev/null is not a serial port"))  # a device, but no terminal
    for port, message in cases:
        p = _capture(port, "-o", str(tmp_path / "x.hanlog"))
        assert p.returncode == 2, p.stderr
        assert message in p.stderr and "Traceback" not in p.stderr


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root opens a device whatever its mode")
def test_a_port_without_permission_exits_2_and_names_the_dialout_group():
    master, slave = os.openpty()
    try:
        device = os.ttyname(slave)
        os.chmod(device, 0)
        p = _capture(device)
    finally:
        os.close(slave)
        os.close(master)
    assert p.returncode == 2
    assert "permission denied on %s: add yourself to the dialout group: sudo usermod -aG dialout $USER" % device in p.stderr


def test_permission_denied_message_from_pyserial(capsys):
    # the same mapping without needing a non-root user: pyserial reports errno 13 when open() is refused
    import capture

    class FakeSerial:
        class SerialException(IOError):
            pass

        @classmethod
        def serial_for_url(cls, *args, **kwargs):
            raise cls.SerialException(13, "could not open port /dev/ttyUSB0: [Errno 13] Permission denied")

    with pytest.raises(SystemExit) as stop:
        capture.open_port(FakeSerial, "socket://meter:7700", 2400, "E")
    assert stop.value.code == 2
    assert "permission denied on socket://meter:7700: add yourself to the dialout group" in capsys.readouterr().err


def test_help():
    p = _capture("--help")
    assert p.returncode == 0
    for flag in ("PORT", "--output", "--baud", "--parity", "--seconds", "--frames", "--raw"):
        assert flag in p.stdout


def _readme_capture_command():
    # the README's own command for recording a capture, as a user types it
    with open(os.path.join(_ROOT, "README.md")) as f:
        lines = [line.split("#")[0].split() for line in f if line.lstrip().startswith("python3 tools/capture.py ")]
    assert lines and all(line == lines[0] for line in lines), lines
    return lines[0]


def test_the_readmes_capture_command_works_with_a_python_that_has_no_pyserial(tmp_path):
    # `python3 tools/capture.py /dev/ttyUSB0 --parity E --seconds 60` on a system Python without
    # pyserial (python -S stands in for one: no site-packages) takes the project's .venv's
    command = _readme_capture_command()
    assert command[:3] == ["python3", "tools/capture.py", "/dev/ttyUSB0"] and "--parity" in command
    records, expected = _kaifa_stream()
    frames = len(expected)
    source, got = tmp_path / "kaifa.hanlog", tmp_path / "got.hanlog"
    hanlog.write(str(source), records)
    args = command[3:] + ["--frames", str(frames), "-o", str(got)]  # --seconds 60 stays, as an upper bound
    replay, capture = _start(tmp_path, source, args, python=["-S"])
    try:
        code, out, err = capture.finish()
        assert code == 0, out + err
        assert "%d frames ok, 0 bad HCS, 0 bad FCS" % frames in out
    finally:
        _stop(capture, replay)
    assert b"".join(data for _, data in hanlog.read(str(got))) == b"".join(data for _, data in records)


def test_without_pyserial_or_a_venv_it_says_how_to_get_it(tmp_path):
    # a copy of the tools without a .venv: nothing to fall back on, so it explains, exit 2
    import shutil

    for folder in ("tools", "lib", os.path.join("host_tests", "shims")):
        shutil.copytree(os.path.join(_ROOT, folder), str(tmp_path / folder))
    p = subprocess.run([sys.executable, "-S", str(tmp_path / "tools" / "capture.py"), "/dev/ttyUSB0"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "pyserial is missing from this Python" in p.stderr and "Run `make venv` once in %s" % tmp_path in p.stderr
