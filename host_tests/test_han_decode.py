# test_han_decode.py Checks tools/han_decode.py gives the same JSON lines under CPython and MicroPython.

import json
import os
import subprocess
import sys

from corpus import good_hdlc, records, _DIR

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TOOL = os.path.join(_ROOT, "tools", "han_decode.py")
_RUNTIMES = (sys.executable, os.path.join(os.path.dirname(sys.executable), "micropython"))


def _run(runtime, args, stdin=b""):
    return subprocess.run([runtime, _TOOL] + args, input=stdin, capture_output=True, timeout=60)


def _expected_stream():
    with open(_DIR + "expected.json") as f:
        expected = json.load(f)
    frames = [r for r in good_hdlc("aidon", "kaifa", "kamstrup") if r["id"] != "kamstrup-ams-gh239-2"]
    data = b"".join(b"\x00\x11garbage" + r["bytes"] for r in frames)
    return data, [expected[r["id"]] for r in frames]


def test_decodes_a_raw_capture_file_identically_on_both_runtimes(tmp_path):
    data, expected = _expected_stream()
    capture = tmp_path / "capture.bin"
    capture.write_bytes(data)
    outputs = []
    for runtime in _RUNTIMES:
        p = _run(runtime, [str(capture)])
        assert p.returncode == 0, p.stderr
        assert [json.loads(line) for line in p.stdout.splitlines()] == expected
        err = p.stderr.decode().strip().splitlines()
        assert len(err) == 1 and "frames_ok=%d" % len(expected) in err[0] and "bad_fcs=0" in err[0]
        assert "skipped=%d" % (9 * len(expected)) in err[0]
        outputs.append(p.stdout)
    assert outputs[0] == outputs[1]  # byte for byte: the same decimals on both runtimes


def test_reads_hex_text_from_stdin_ignoring_whitespace():
    r = good_hdlc("kaifa")[0]
    text = " ".join(r["hex"][i : i + 2] for i in range(0, len(r["hex"]), 2)).encode() + b"\n"
    for runtime in _RUNTIMES:
        p = _run(runtime, ["--hex"], text)
        assert p.returncode == 0 and json.loads(p.stdout)["active_power_import"] == 4117


def test_kamstrup_energy_wh_flag():
    r = [r for r in records("kamstrup") if r["id"] == "kamstrup-ams-gh239-2"][0]
    p = _run(sys.executable, ["--hex", "--kamstrup-energy-wh"], r["hex"].encode())
    assert json.loads(p.stdout)["active_energy_import"] == 32014.158


def test_unreadable_input_gives_a_clear_error_and_exit_1():
    for runtime in _RUNTIMES:
        p = _run(runtime, ["/nonexistent/capture.bin"])
        assert p.returncode == 1 and b"cannot read /nonexistent/capture.bin" in p.stderr
        p = _run(runtime, ["--hex"], b"7e a0 zz")
        assert p.returncode == 1 and b"not hex text" in p.stderr


def test_garbage_only_input_is_not_an_error():
    p = _run(sys.executable, [], b"\x01\x02\x03" * 100)
    assert p.returncode == 0 and p.stdout == b"" and b"skipped=300" in p.stderr


def test_help():
    p = _run(sys.executable, ["--help"])
    assert p.returncode == 0 and b"usage: han_decode.py" in p.stdout
