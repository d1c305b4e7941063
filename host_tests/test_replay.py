# test_replay.py Checks the replay tooling: hanlog files, the shipped replays, and tools/replay.py. CPython only.

import os
import select
import socket
import subprocess
import sys
import time

import pytest
from corpus import Pipeline

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TOOLS = os.path.join(_ROOT, "tools")
sys.path.insert(0, _TOOLS)
import hanlog  # noqa: E402

# the push schedule of each replay: 150 s from 23:58:50, list 3 once at the top of the hour
_MIX = {"aidon": {1: 45, 2: 14, 3: 1}, "kaifa": {1: 60, 2: 14, 3: 1}, "kamstrup": {2: 15, 3: 1}}
_SMALL = [(0.0, bytes(range(256))), (0.5, b"\x7e\x00\x7e"), (0.5, b"\x0d\x0a\x11\x13\x03\x04"), (1.25, b"end")]


def _replay(*args):
    return subprocess.Popen(
        [sys.executable, os.path.join(_TOOLS, "replay.py")] + list(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _finish(proc):
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    return out.decode()


def _until(condition, what, timeout=10):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out waiting for " + what
        time.sleep(0.02)


def _connect(port, timeout=10):
    # the replay needs a moment to start listening
    end = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=20)
        except ConnectionRefusedError:
            assert time.monotonic() < end, "the replay never listened"
            time.sleep(0.02)


def test_hanlog_round_trip(tmp_path):
    path = tmp_path / "small.hanlog"
    hanlog.write(str(path), _SMALL, ["Kaifa, Norway, 2400 8E1", "", "from a test"])
    text = path.read_text()
    assert text.startswith("# Kaifa, Norway, 2400 8E1\n#\n# from a test\n0.000 000102")
    assert hanlog.read(str(path)) == _SMALL


def test_hanlog_malformed_line_is_named(tmp_path):
    path = tmp_path / "bad.hanlog"
    path.write_text("# header\n0.000 7e00\n\n1.000 7e0g\n")
    with pytest.raises(ValueError, match="line 4: 'g' at column 10 is not a hex digit"):
        hanlog.read(str(path))
    path.write_text("2.000 7e00\n1.000 7e00\n")  # time going backwards
    with pytest.raises(ValueError, match="line 2"):
        hanlog.read(str(path))


def test_hanlog_bad_lines_are_named_and_the_good_ones_kept(tmp_path):
    path = tmp_path / "bad.hanlog"
    path.write_text("# header\n0.000 7e00\n0.500 7e0\nzero 11\n1.000 7e01\n0.750 7e02\n2.000 7e 0 3\n3.000 7e03\n")
    problems = []
    assert hanlog.read(str(path), problems) == [(0.0, b"\x7e\x00"), (1.0, b"\x7e\x01"), (1.0, b"\x7e\x02"), (3.0, b"\x7e\x03")]
    where = str(path) + " line "
    assert problems == [
        where + "3: odd number of hex digits (3): a byte is missing a digit; line skipped",
        where + "4: the time 'zero' is not a number of seconds; line skipped",
        where + "6: time 0.75 is before the previous 1; kept at 1",
        where + "7: a space splits the byte at column 11; line skipped",
    ]


def test_replay_names_bad_lines_and_plays_the_rest(tmp_path):
    path = tmp_path / "bad.hanlog"
    path.write_text("0.000 616263\n0.100 6g\n0.200 646566\n")
    with socket.socket() as s:  # a free port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _replay("--speed", "50", "--tcp", "127.0.0.1:%d" % port, str(path))
    try:
        client = _connect(port)
        got = b""
        while True:
            chunk = client.recv(4096)
            if not chunk:
                break
            got += chunk
        client.close()
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0 and got == b"abcdef"
        assert "bad.hanlog line 2: 'g' at column 8 is not a hex digit; line skipped" in err.decode()
    finally:
        proc.kill()


def test_raw_capture_is_paced_at_240_bytes_a_second(tmp_path):
    path = tmp_path / "capture.bin"
    data = bytes.fromhex("7ea027010201105a87e6e7") * 50  # 550 bytes of HAN traffic: not text
    path.write_bytes(data)
    records = hanlog.read(str(path))
    assert [(t, len(b)) for t, b in records] == [(0.0, 240), (1.0, 240), (2.0, 70)]
    assert b"".join(b for _, b in records) == data


def test_shipped_replays_decode_cleanly_with_the_expected_lists():
    for maker, mix in _MIX.items():
        records = hanlog.read(os.path.join(_TOOLS, "replays", maker + ".hanlog"))
        p = Pipeline().feed(b"".join(data for _, data in records))
        a, d = p.assembler, p.decoder
        assert (a.bad_hcs, a.bad_fcs, a.oversize, a.skipped) == (0, 0, 0, 0), maker
        assert (d.malformed, d.unknown, d.encrypted) == (0, 0, 0), maker
        assert len(p.messages) == len(records) == a.frames_ok, maker
        lists = [m["list"] for m in p.messages]
        assert {n: lists.count(n) for n in set(lists)} == mix, maker
        assert records[lists.index(3)][0] <= 80 and records[-1][0] < 150, maker
        assert {m["meter_manufacturer"] for m in p.messages if "meter_manufacturer" in m} == {maker.capitalize()}


def test_shipped_replays_are_what_make_replays_builds(tmp_path):
    subprocess.run([sys.executable, os.path.join(_TOOLS, "make_replays.py"), str(tmp_path)], check=True, timeout=60)
    for maker in _MIX:
        with open(os.path.join(_TOOLS, "replays", maker + ".hanlog"), "rb") as f:
            assert (tmp_path / (maker + ".hanlog")).read_bytes() == f.read(), maker


def test_tcp_streams_the_capture_then_closes(tmp_path):
    path = tmp_path / "small.hanlog"
    hanlog.write(str(path), _SMALL)
    with socket.socket() as s:  # a free port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _replay("--speed", "50", "--tcp", "127.0.0.1:%d" % port, str(path))
    try:
        client = _connect(port)
        got = b""
        while True:
            chunk = client.recv(4096)
            if not chunk:
                break
            got += chunk
        client.close()
        assert got == b"".join(data for _, data in _SMALL)
        assert "small.hanlog -> tcp 127.0.0.1:%d at 50x" % port in _finish(proc)
    finally:
        proc.kill()


def test_pty_carries_the_bytes_unchanged(tmp_path):
    path, link = tmp_path / "small.hanlog", tmp_path / "han"
    hanlog.write(str(path), _SMALL)
    expected = b"".join(data for _, data in _SMALL)  # CR, LF, XON/XOFF, ^C: raw mode keeps them
    proc = _replay("--speed", "50", "--pty", str(link), str(path))
    try:
        _until(link.exists, "the pty link")
        fd = os.open(str(link), os.O_RDONLY | os.O_NOCTTY)
        got, end = b"", time.monotonic() + 20
        while len(got) < len(expected) and time.monotonic() < end:
            if select.select([fd], [], [], 0.5)[0]:
                got += os.read(fd, 4096)
        os.close(fd)
        assert got == expected
        _finish(proc)
        assert not os.path.lexists(str(link))  # removed on exit
    finally:
        proc.kill()


def test_missing_capture_exits_2_with_a_message():
    proc = _replay("/nonexistent/meter.hanlog")
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert b"cannot read /nonexistent/meter.hanlog" in err
