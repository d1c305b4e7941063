# test_han_decode.py Checks tools/han_decode.py gives the same JSON lines under CPython and MicroPython.

import json
import os
import select
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


def test_recognises_p1_telegrams_from_the_bytes_on_both_runtimes(tmp_path):
    # a P1 capture (line noise first, a telegram with a bad CRC in it) in the same schema, one object each
    with open(_DIR + "expected_p1.json") as f:
        expected = json.load(f)
    telegrams = [r for r in records("p1") if r["crc_ok"]]
    bad = bytearray(telegrams[0]["bytes"])
    bad[bad.index(b"1.7.0(") + 7] ^= 1  # a digit of the power: still a digit
    data = b"\x00\xff noise" + b"".join(r["bytes"] + b"\r\n" for r in telegrams[:3]) + bytes(bad) + b"\r\n"
    data += b"".join(r["bytes"] + b"\r\n" for r in telegrams[3:])
    capture = tmp_path / "p1.txt"
    capture.write_bytes(data)
    outputs = []
    for runtime in _RUNTIMES:
        p = _run(runtime, [str(capture)])
        assert p.returncode == 0, p.stderr
        assert [json.loads(line) for line in p.stdout.splitlines()] == [expected[r["id"]] for r in telegrams]
        err = p.stderr.decode().strip().splitlines()
        assert err == ["telegrams_ok=%d bad_crc=1 no_crc=0 cut=0 skipped=8" % len(telegrams)]
        outputs.append(p.stdout)
    assert outputs[0] == outputs[1]
    p = _run(_RUNTIMES[0], ["--hex"], data.hex().encode())
    assert p.returncode == 0 and len(p.stdout.splitlines()) == len(telegrams)


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


def test_garbage_only_input_is_not_an_error():
    p = _run(sys.executable, [], b"\x01\x02\x03" * 100)
    assert p.returncode == 0 and p.stdout == b"" and b"skipped=300" in p.stderr


def test_help():
    p = _run(sys.executable, ["--help"])
    assert p.returncode == 0 and b"usage: han_decode.py" in p.stdout
    p = _run(sys.executable, ["--hexx"])  # the README: exit 1 when an option is wrong
    assert p.returncode == 1 and b"unknown option --hexx" in p.stderr


def _hanlog_text(data_records, newline="\n"):
    # a hanlog file as tools/capture.py writes it: header comments, then "<seconds> <hex>" records
    lines = ["# HAN capture made by tools/capture.py on 2026-11-28T01:00:00+01:00", "# port /dev/ttyUSB0, 2400 8E1"]
    lines += ["%.3f %s" % (0.5 * i, data.hex()) for i, data in enumerate(data_records)]
    return (newline.join(lines) + newline).encode()


def test_decodes_a_hanlog_capture_identically_on_both_runtimes(tmp_path):
    data, expected = _expected_stream()
    # records cut anywhere, frames split across them, as one read() of a port gives them
    cuts = list(range(0, len(data), 97)) + [len(data)]
    lines = _hanlog_text([data[a:b] for a, b in zip(cuts, cuts[1:])]).split(b"\n")
    head, hexpart = lines[5].split(b" ", 1)
    lines[5] = head + b" " + b" ".join(hexpart[i : i + 2] for i in range(0, len(hexpart), 2))  # spaces between pairs
    lines.insert(8, b"")  # a blank line
    lines.insert(9, b"# a comment in the middle")
    capture = tmp_path / "capture.hanlog"
    capture.write_bytes(b"\n".join(lines))
    crlf = tmp_path / "crlf.hanlog"  # from a Windows editor: BOM and CRLF
    crlf.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines))
    raw = tmp_path / "capture.bin"
    raw.write_bytes(data)
    outputs = []
    for runtime in _RUNTIMES:
        for args, stdin in (([str(capture)], b""), ([str(crlf)], b""), ([], capture.read_bytes())):
            p = _run(runtime, args, stdin)
            assert p.returncode == 0, p.stderr
            assert [json.loads(line) for line in p.stdout.splitlines()] == expected
            assert p.stdout == _run(runtime, [str(raw)]).stdout  # the records' bytes, as one stream
            err = p.stderr.decode()
            assert "frames_ok=%d bad_hcs=0 bad_fcs=0" % len(expected) in err and "skipped=%d" % (9 * len(expected)) in err
            outputs.append(p.stdout)
    assert all(out == outputs[0] for out in outputs)  # byte for byte, on both runtimes


def test_bad_hex_text_is_named_by_place_and_the_rest_decoded():
    kaifa = good_hdlc("kaifa")[0]["hex"].encode()
    text = b"zz " + kaifa + b"\n7ea0 0q12\n" + kaifa + b"\n7"  # 0 dropped, 12 a byte
    for runtime in _RUNTIMES:
        p = _run(runtime, ["--hex"], text)
        assert p.returncode == 1
        assert [json.loads(line)["active_power_import"] for line in p.stdout.splitlines()] == [4117, 4117]
        err = p.stderr.decode().splitlines()
        assert err[:4] == [
            "han_decode: stdin line 1 column 1: 'z' is not a hex digit; skipped",
            "han_decode: stdin line 1 column 2: 'z' is not a hex digit; skipped",
            "han_decode: stdin line 2 column 7: 'q' is not a hex digit; skipped (with the unpaired digit before it)",
            "han_decode: stdin line 4 column 1: odd number of hex digits: '7' has no pair; dropped",
        ], err
        assert err[4].startswith("frames_ok=2 ")
        p = _run(runtime, ["--hex"], b"7\n\n\n" + kaifa[1:] + b"\n\n")  # a byte split across lines, blank lines
        assert p.returncode == 0 and json.loads(p.stdout)["active_power_import"] == 4117, p.stderr
        p = _run(runtime, ["--hex"], b"x" * 25 + kaifa)  # the first 20 problems are printed, the rest counted
        err = p.stderr.decode().splitlines()
        assert p.returncode == 1 and json.loads(p.stdout)["active_power_import"] == 4117
        assert len(err) == 22 and err[19].startswith("han_decode: stdin line 1 column 20: 'x'")
        assert err[21] == "han_decode: 5 more problems in stdin not shown"
        p = _run(runtime, ["--hex"], kaifa + b"a")  # odd length is not "not hex text": the frame is decoded
        assert p.returncode == 1 and json.loads(p.stdout)["active_power_import"] == 4117
        assert b"stdin line 1 column %d: odd number of hex digits: 'a' has no pair" % (len(kaifa) + 1) in p.stderr


def test_bad_hanlog_lines_are_named_and_the_good_ones_decoded(tmp_path):
    data, expected = _expected_stream()
    good = _hanlog_text([data]).split(b"\n")[:3]  # the header and one record of every frame
    bad = [b"0.500 7ea", b"1.000 7e0g", b"soon 7e7e", b"1.500", b"2.000 0000", b"0.250 0000",
           b"2.000 7e\x01\x02", b"2.100 \xff\xfe", b"3.000 " + b"7e" * 20000, b"3.500 00"]
    capture = tmp_path / "bad.hanlog"
    capture.write_bytes(b"\n".join(good + bad) + b"\n")
    for runtime in _RUNTIMES:
        for args, stdin, name in (([str(capture)], b"", str(capture)), ([], capture.read_bytes(), "stdin")):
            p = _run(runtime, args, stdin)
            assert p.returncode == 1
            assert [json.loads(line) for line in p.stdout.splitlines()] == expected  # every good record
            err = [line[len("han_decode: %s " % name) :] for line in p.stderr.decode().splitlines()[:-1]]
            assert err == [
                "line 4: odd number of hex digits (3): a byte is missing a digit; skipped",
                "line 5: 'g' at column 10 is not a hex digit; skipped",
                "line 6: the time 'soon' is not a number of seconds; skipped",
                "line 7: expected '<seconds> <hex bytes>', got '1.500'; skipped",
                "line 9: time 0.25 is before the previous 2.0; its bytes are decoded all the same",
                "line 10: control bytes: not hanlog text (raw bytes mixed in?); skipped",
                "line 11: not UTF-8 text; skipped",
                "line 12: longer than 32768 characters; skipped",
            ], (runtime, args, err)


def test_a_long_hanlog_capture_fits_the_unix_ports_heap(tmp_path):
    # an hour of Kaifa traffic (about 450 kB of text): the file is read in pieces, not all at once
    r = good_hdlc("kaifa")[0]["bytes"]
    capture = tmp_path / "hour.hanlog"
    capture.write_bytes(_hanlog_text([r] * 5400))
    outputs = []
    for runtime in _RUNTIMES:
        p = _run(runtime, [str(capture)])
        assert p.returncode == 0, p.stderr
        assert b"frames_ok=5400 " in p.stderr and len(p.stdout.splitlines()) == 5400
        outputs.append(p.stdout)
    assert outputs[0] == outputs[1]


def _aidon_list3(clock, imp_10wh, exp_10wh, power_w):
    # the Aidon list 3 frame of the corpus with another clock (Y, M, D, h), registers and power
    from corpus import hdlc_frame, info_of

    frame = bytearray([r for r in good_hdlc("aidon") if r["id"] == "aidon-ams-gh1119-1"][0]["bytes"])
    at = frame.find(bytes.fromhex("0000010000ff090c")) + 8
    frame[at : at + 7] = bytes([clock[0] >> 8, clock[0] & 0xFF, clock[1], clock[2], 0, clock[3], 0])
    for obis, v in (("0100010800ff", imp_10wh), ("0100020800ff", exp_10wh), ("0100010700ff", power_w)):
        i = frame.find(bytes.fromhex(obis)) + 7
        frame[i : i + 4] = v.to_bytes(4, "big")
    return hdlc_frame(info_of(bytes(frame)))


def test_hours_prints_clock_hours_and_the_month_identically_on_both_runtimes(tmp_path):
    # October's change day from 00:00 to 05:00 local (02:00 twice, told apart with no other
    # message between); the register of 03:00 is lost, so the two hours before it share the
    # difference, marked estimated
    clocks = [(2026, 10, 25, h) for h in (0, 1, 2, 2, 3, 4, 5)]
    regs = [100000, 100100, 100250, 100400, 100520, 100600, 100610]  # 10 Wh units
    frames = [_aidon_list3(c, r, 7, 2000) for c, r in zip(clocks, regs)]
    capture = tmp_path / "day.bin"
    capture.write_bytes(b"".join(f for i, f in enumerate(frames) if i != 4))
    want = [("00:00+02:00", "1.00", "register"), ("01:00+02:00", "1.50", "register"),
            ("02:00+02:00", "1.50", "register"), ("02:00+01:00", None, "estimated"),
            ("03:00+01:00", None, "estimated"), ("04:00+01:00", "0.10", "register")]
    outputs = []
    for runtime in _RUNTIMES:
        p = _run(runtime, ["--hours", str(capture)])
        assert p.returncode == 0, p.stderr
        lines = [json.loads(x) for x in p.stdout.splitlines()]
        assert len(lines) == 7
        for got, (hour, kwh, how) in zip(lines, want):
            assert got["hour"] == "2026-10-25T" + hour and got["how"] == how and got["export_kwh"] == 0.0, got
            if kwh:
                assert p.stdout.decode().count('"import_kwh": %s,' % kwh) >= 1 and got["import_kwh"] == float(kwh)
        assert round((lines[3]["import_kwh"] + lines[4]["import_kwh"]) * 100) == 200  # 1.20 + 0.80
        assert lines[6] == {"month": "2026-10", "peaks": [{"hour": "2026-10-25T01:00+02:00", "kwh": 1.5}],
                            "peak_mean_kw": 1.5, "step_kw": [0, 2]}
        outputs.append(p.stdout)
    assert outputs[0] == outputs[1]


def test_hours_of_real_aidon_frames_do_not_book_a_stale_hour_as_0_then_double():
    # amsreader #1119: at 18:00 the meter sent its 17:00 clock and registers again
    frames = [r["bytes"] for r in good_hdlc("aidon") if r["id"].startswith("aidon-ams-gh1119-")]
    data = b"".join(frames)
    for runtime in _RUNTIMES:
        p = _run(runtime, ["--hours", "-"], data)
        lines = [json.loads(x) for x in p.stdout.splitlines()]
        assert [(x["hour"], x["how"]) for x in lines[:3]] == [("2025-12-14T16:00+01:00", "register"),
                                                             ("2025-12-14T17:00+01:00", "estimated"),
                                                             ("2025-12-14T18:00+01:00", "estimated")]
        assert lines[0]["import_kwh"] == 1.77  # 109554.02 - 109552.25
        assert round((lines[1]["import_kwh"] + lines[2]["import_kwh"]) * 100) == 805  # 109562.07 - 109554.02
        assert lines[3]["month"] == "2025-12" and lines[3]["step_kw"] == [2, 5]


def _line_before_eof(proc, what):
    # the next stdout line while stdin is still open; the 60 s only stop a hang, they time nothing
    assert select.select([proc.stdout], [], [], 60)[0], "nothing decoded before the input ended: " + what
    return json.loads(proc.stdout.readline())


def test_decodes_stdin_as_it_arrives_from_a_pipe_that_stays_open():
    # `cat /dev/ttyUSB0 | han_decode.py`: the port never ends, so each message must come out at once
    frames = good_hdlc("kaifa")[:3]
    with open(_DIR + "expected.json") as f:
        known = json.load(f)
    expected = [known[r["id"]] for r in frames]
    header = b"# HAN capture made by tools/capture.py\n"
    modes = (
        ([], [b"\x00" + r["bytes"] for r in frames]),  # raw bytes, as from the port
        ([], [header + b"0.000 %s\n" % r["hex"].encode() if i == 0 else b"%d.000 %s\n" % (i, r["hex"].encode()) for i, r in enumerate(frames)]),
        (["--hex"], [r["hex"].encode() + b"\n" for r in frames]),
    )
    for runtime in _RUNTIMES:
        for args, pieces in modes:
            proc = subprocess.Popen([runtime, _TOOL] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, bufsize=0)
            try:
                for piece, want in zip(pieces, expected):
                    proc.stdin.write(piece)
                    assert _line_before_eof(proc, "%s %s" % (runtime, args)) == want
                proc.stdin.close()
                assert proc.wait(timeout=60) == 0
                assert proc.stdout.read() == b"" and b"frames_ok=3 " in proc.stderr.read()
            finally:
                proc.kill()
                proc.wait()


def test_megabytes_of_stdin_fit_a_small_micropython_heap():
    # on the unix port the whole of stdin used to be read at once: 2 MB raised MemoryError
    frame = good_hdlc("kaifa")[0]["bytes"]
    raw = frame * (2 * 1024 * 1024 // len(frame))  # 2 MB in each form, in an eighth of that heap
    text = _hanlog_text([frame] * (2 * 1024 * 1024 // (2 * len(frame))))
    mpy = [_RUNTIMES[1], "-X", "heapsize=256K", _TOOL]
    for args, stdin, count in (([], raw, raw.count(frame)), ([], text, text.count(frame.hex().encode())),
                               (["--hex"], raw[: len(raw) // 2 // len(frame) * len(frame)].hex().encode(), raw.count(frame) // 2)):
        p = subprocess.run(mpy + args, input=stdin, capture_output=True, timeout=600)
        assert p.returncode == 0, p.stderr[-500:]
        assert b"frames_ok=%d bad_hcs=0 bad_fcs=0 " % count in p.stderr and len(p.stdout.splitlines()) == count


def _readme_stty(parity):
    # the README's own stty line for a maker's framing, so the README stays true
    with open(os.path.join(_ROOT, "README.md")) as f:
        lines = [line.split("#")[0].strip() for line in f if line.startswith("stty -F /dev/ttyUSB0 2400 raw")]
    return [line for line in lines if " %s " % parity in line + " "][0].split()


def test_a_pty_in_the_readmes_raw_mode_decodes_live_and_in_cooked_mode_nothing():
    # a pty stands in for /dev/ttyUSB0 (it cannot take parity, so Kamstrup's 8N1 line is the one run)
    stty = _readme_stty("-parenb")
    assert stty[stty.index("raw") :] == ["raw", "-echo", "cs8", "-parenb", "-cstopb"]
    assert "parenb -parodd" in " ".join(_readme_stty("parenb"))  # 8E1 for the others
    records3 = good_hdlc("kamstrup")[:3]
    frames = [r["bytes"] for r in records3]
    with open(_DIR + "expected.json") as f:
        known = json.load(f)
    assert any(set(f) & set(b"\r\n\x03\x04\x11\x13\x7f") for f in frames)  # bytes a cooked tty changes
    for raw in (True, False):
        master, slave = os.openpty()
        name = os.ttyname(slave)
        if raw:
            subprocess.run(["stty", "-F", name] + stty[3:], check=True)
        proc = subprocess.Popen("cat %s | %s %s" % (name, sys.executable, _TOOL), shell=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        try:
            if raw:
                for r in records3:
                    os.write(master, r["bytes"])
                    assert _line_before_eof(proc, "a raw pty") == known[r["id"]]
            else:
                for f in frames:
                    os.write(master, f)
            os.close(master)
            out, err = proc.communicate(timeout=60)
            decoded = int(err.split(b" decoded=")[1].split()[0])
            assert decoded == (len(frames) if raw else 0), err
        finally:
            os.close(slave)
            proc.kill()
            proc.wait()


def test_key_options_decrypt_encrypted_meters_and_name_a_wrong_key():
    from test_gcm import _sealed_frame, _KEY, _AUTH_KEY

    with open(_DIR + "expected.json") as f:
        expected = json.load(f)
    r = good_hdlc("aidon")[0]
    sealed = _sealed_frame(r).hex().encode()
    lg = records("encrypted")[0]  # L+G E450 with both keys published; its layout is not known yet
    keys = ["--key", lg["key"]["encryption_key"], "--auth-key", lg["key"]["authentication_key"]]
    wrong = ["--key", "00" * 16]
    for runtime in _RUNTIMES:
        p = _run(runtime, ["--hex", "--key", _KEY.hex(), "--auth-key", _AUTH_KEY.hex()], sealed)
        assert p.returncode == 0 and [json.loads(line) for line in p.stdout.splitlines()] == [expected[r["id"]]]
        for args, counts in (([], "no_key=1 wrong_key=0"), (keys, "no_key=0 wrong_key=0"), (wrong, "no_key=0 wrong_key=1")):
            p = _run(runtime, ["--hex"] + args, lg["hex"].encode())
            assert p.returncode == 0 and "encrypted=1 " + counts in p.stderr.decode(), (args, p.stderr)
        p = _run(runtime, ["--key", "0011"])
        assert p.returncode == 1 and b"--key needs 32 hex digits" in p.stderr


def test_recognises_mbus_long_frames_from_the_bytes_on_both_runtimes(tmp_path):
    # Norwegian messages in M-Bus segments (known values) among noise, one frame broken; then an
    # Austrian corpus message decrypted with its published key
    from corpus import info_of, mbus_frames

    with open(_DIR + "expected.json") as f:
        expected = json.load(f)
    frames = good_hdlc("aidon", "kaifa")[:4]
    streams = [mbus_frames(info_of(r["bytes"])[3:], 120) for r in frames]
    bad = bytearray(streams[1])
    bad[20] ^= 1
    data = b"\x00\x11noise" + b"".join(streams[:2]) + bytes(bad) + b"".join(streams[2:])
    capture = tmp_path / "mbus.bin"
    capture.write_bytes(data)
    tirol = [r for r in records("encrypted") if r["id"] == "enc-kaifa-tirol-example"][0]
    outputs = []
    for runtime in _RUNTIMES:
        p = _run(runtime, [str(capture)])
        assert p.returncode == 0, p.stderr
        assert [json.loads(line) for line in p.stdout.splitlines()] == [expected[r["id"]] for r in frames]
        err = p.stderr.decode().strip().splitlines()
        assert len(err) == 1 and err[0].startswith("frames_ok=") and " bad_checksum=1 " in err[0], err
        outputs.append(p.stdout)
        p = _run(runtime, ["--hex", "--key", tirol["key"]["encryption_key"]], tirol["hex"].encode())
        err = p.stderr.decode()
        assert p.returncode == 0 and "frames_ok=2 bad_checksum=0 " in err and "encrypted=1 no_key=0 wrong_key=0" in err, err
    assert outputs[0] == outputs[1]
