# test_fuzz.py Checks the fuzzers of `make fuzz` in short runs, that their checks catch planted bugs, and every crash they found.
# CPython only (pytest): the MicroPython fuzzer runs as a subprocess on the unix port.

import json
import os
import random
import subprocess
import sys

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TOOLS = os.path.join(_ROOT, "tools")
_MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
_REGRESSIONS = os.path.join(_ROOT, "host_tests", "fixtures", "fuzz_regressions.jsonl")

sys.path.insert(0, _TOOLS)
import fuzz_mpy as F  # noqa: E402


def _regressions():
    if not os.path.exists(_REGRESSIONS):
        return []
    with open(_REGRESSIONS) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(autouse=True)
def _keep_random_state():
    # the generators use the global random module: leave it as the other tests had it
    state = random.getstate()
    yield
    random.setstate(state)


def test_micropython_fuzzer_short_run_under_heap_lock():
    p = subprocess.run([_MICROPYTHON, "-X", "heapsize=8M", os.path.join(_TOOLS, "fuzz_mpy.py"), "30000", "7"],
                       capture_output=True, text=True, timeout=120, cwd=_ROOT)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    last = p.stdout.strip().splitlines()[-1]
    assert last.startswith("fuzz_mpy: OK 30000 inputs (1875 probes)") and "heap unchanged under heap_lock" in last, last
    assert "decoded=" in last and " malformed=" in last and "oversize=" in last
    p1_line = [x for x in p.stdout.splitlines() if x.startswith("fuzz_mpy: p1 OK 750 inputs")]
    assert p1_line and "heap unchanged under heap_lock" in p1_line[0] and "no_crc=0 " not in p1_line[0], p.stdout[-2000:]
    mbus_line = [x for x in p.stdout.splitlines() if x.startswith("fuzz_mpy: mbus OK 1500 inputs")]
    assert mbus_line and "heap unchanged under heap_lock" in mbus_line[0], p.stdout[-2000:]
    for zero in ("frames_ok=0 ", "bad_checksum=0 ", "bad_sequence=0 ", "joined=0 ", "decoded=0 ", "malformed=0 "):
        assert zero not in mbus_line[0], (zero, mbus_line[0])  # every path of the assembler and the block joiner taken


def test_32_bit_micropython_fuzzer_short_run_under_heap_lock():
    # every layer (HDLC, GCM, P1, M-Bus, block transfer) at the ESP32's word size: 31-bit small ints
    p = subprocess.run(["node", os.path.join(_TOOLS, "mpy32.mjs"), "-X", "heapsize=8M", os.path.join(_TOOLS, "fuzz_mpy.py"), "3000", "7"],
                       capture_output=True, text=True, timeout=300, cwd=_ROOT)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    lines = p.stdout.strip().splitlines()
    assert lines[-1].startswith("fuzz_mpy: OK 3000 inputs") and "heap unchanged under heap_lock" in lines[-1], lines[-1]
    for layer in ("p1", "mbus"):
        found = [x for x in lines if x.startswith("fuzz_mpy: %s OK " % layer)]
        assert found and "heap unchanged under heap_lock" in found[0], (layer, p.stdout[-2000:])
    assert " no_key=0 " not in lines[-1] + " " and " wrong_key=0" not in lines[-1] + " "  # keyed and keyless batches


def test_atheris_short_run(tmp_path):
    p = subprocess.run([sys.executable, os.path.join(_TOOLS, "fuzz_cpython.py"), "--runs", "2500", "--seed", "1",
                        "--corpus", str(tmp_path / "corpus"), "--crashes", str(tmp_path / "crashes")],
                       capture_output=True, text=True, timeout=180, cwd=_ROOT)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-4000:]
    assert "fuzz_cpython: OK 2500 inputs" in out, out[-2000:]
    assert len(os.listdir(tmp_path / "corpus")) > 100  # seeds from the corpus, and what coverage added


def test_generated_inputs_pass_on_cpython_too():
    # the MicroPython fuzzer's mutations, fed through the same checked pipeline under CPython
    F.setup(11)
    for i in range(3000):
        _, data = F.junk()
        assert F.check_stream(data) == [], (i, bytes(data).hex())


def test_every_mutation_kind_runs_and_the_decoder_sees_every_outcome():
    F.setup(3)
    from dlms import Decoder

    d = Decoder()
    for t in F.TEMPLATES:
        for m, _ in F._MUTATIONS:
            for _ in range(3):
                a = bytes(m(t.apdu, t))
                d.apdu(a, 0, len(a))
    assert d.decoded and d.malformed and d.unknown and d.encrypted


def test_recipes_of_the_coverage_guided_fuzzer_wrap_apdus_in_valid_frames():
    import fuzz_cpython as C

    F.setup()
    t = [t for t in F.TEMPLATES if t.name == "kaifa-ams-gh493-1"][0]
    for mode in (C.MODE_FRAME, C.MODE_SEGMENTS):
        data = bytes((mode, 0x40)) + bytes(t.apdu)
        stream, _ = C.build(data)
        c = F.Checked()
        c.feed(stream, 0, len(stream))
        assert c.decoder.decoded == 1 and c.asm.bad_fcs == 0
        assert C.check(data) == []


def _planted(monkeypatch, module, cls, method, old, new):
    # cls.method of module replaced by a copy of its source with `old` changed to `new`
    import importlib
    import inspect

    mod = importlib.import_module(module)
    src = inspect.getsource(mod)
    assert src.count(old) == 1, old
    ns = {"__name__": module + "_planted"}
    exec(compile(src.replace(old, new), mod.__file__, "exec"), ns)
    monkeypatch.setattr(getattr(mod, cls), method, getattr(ns[cls], method))


def _template(name):
    return [t for t in F.TEMPLATES if t.name == name][0]


def _probe_of(prefix, number=1):
    k = [i for i, (t, _) in enumerate(F.PROBES) if t.name.startswith(prefix)][0]
    p, k = F.probe(number, False, k)
    return p, number, k


def test_the_checks_catch_a_missing_bounds_check(monkeypatch):
    F.setup(1)
    _planted(monkeypatch, "axdr", "Walker", "length", "if b == 0x82 and self.pos + 2 <= self.end:", "if b == 0x82:")
    apdu = bytearray(b"\x0f\x40\x00\x00\x00\x00\x01\x82")  # an array whose length is cut after 82
    with pytest.raises(IndexError):
        F.Checked().apdu(apdu, 0, len(apdu))


def test_the_checks_catch_a_missing_depth_limit(monkeypatch):
    F.setup(1)  # seeded: wrap() draws a random control byte 1 time in 8, and such a frame is not decoded
    _planted(monkeypatch, "axdr", "Walker", "skip_content", "if n < 0 or depth >= _MAX_DEPTH:", "if n < 0:")
    apdu = b"\x0f\x40\x00\x00\x00\x00\x01\x01\x02\x02\x09\x06\x00\x00\x60\x01\x00\xff" + b"\x01\x01" * 2000 + b"\x00"
    with pytest.raises(RecursionError):
        F.Checked().apdu(apdu, 0, len(apdu))


def test_the_checks_catch_a_reading_not_cleared(monkeypatch):
    F.setup(1)  # seeded: wrap() draws a random control byte 1 time in 8, and such a frame is not decoded
    _planted(monkeypatch, "reading", "Reading", "clear", "for i in range(FIELDS):", "for i in range(0):")
    kamstrup = _template("kamstrup-ams-em001-1")
    stale = F.wrap(kamstrup.apdu, kamstrup)  # leaves its energy registers in the Reading
    errs = F.check_stream(stale, _probe_of("kaifa-ams-gh493-1"))  # list 2: no energy registers
    assert errs == ["the good frame after it: decoded with wrong values"]


def test_the_checks_catch_counters_that_do_not_add_up(monkeypatch):
    F.setup(1)  # seeded: wrap() draws a random control byte 1 time in 8, and such a frame is not decoded
    _planted(monkeypatch, "dlms", "Decoder", "apdu", "self.encrypted = add(self.encrypted, 1)", "pass")
    enc = [t for t in F.TEMPLATES if t.apdu[0] == 0xDB][0]
    errs = F.check_stream(F.frame(F._LLC + enc.apdu))
    assert any(e.startswith("decoder counted") for e in errs), errs


def test_the_checks_catch_a_good_frame_lost_after_a_cut_one(monkeypatch):
    F.setup(1)  # seeded: wrap() draws a random control byte 1 time in 8, and such a frame is not decoded
    _planted(monkeypatch, "hdlc", "Assembler", "_parse", "self._reject(1)\n                p += 1", "self._reject(1)\n                p += length + 1")
    kaifa = _template("kaifa-ams-gh493-1")
    f = F.frame(F._LLC + kaifa.apdu)
    assert F.check_stream(f[: len(f) // 2], _probe_of("aidon")) == ["the good frame after it: missing"]


def test_the_p1_checks_catch_a_reading_not_cleared(monkeypatch, capsys):
    # a P1 decoder that keeps the last telegram's values: a probe after junk shows them
    F.setup(3)
    F.p1_setup()
    monkeypatch.setattr(F.p1.Decoder, "_begin", lambda self: None)
    assert F.p1_run(300, 3, bytearray(F._POOL), F.array("i", bytes(4 * (F._BATCH + 1)))) == 1
    assert "p1 FAIL" in capsys.readouterr().out


def test_the_p1_fuzzer_passes_on_cpython(capsys):
    F.setup(4)
    F.p1_setup()
    assert F.p1_run(300, 4, bytearray(F._POOL), F.array("i", bytes(4 * (F._BATCH + 1)))) == 0, capsys.readouterr().out


def _mbus_run(seed):
    F.setup(seed)
    F.mbus_setup()
    return F.mbus_run(400, seed, bytearray(F._POOL), F.array("i", bytes(4 * (F._BATCH + 1))))


def test_the_mbus_fuzzer_passes_on_cpython(capsys):
    assert _mbus_run(5) == 0, capsys.readouterr().out


def test_the_mbus_checks_catch_segments_joined_onto_the_last_message(monkeypatch, capsys):
    _planted(monkeypatch, "mbus", "Assembler", "_segment", "            self._apdu_len = 0\n            self._dropping = False",
             "            self._dropping = False")
    assert _mbus_run(5) == 1
    assert "mbus FAIL" in capsys.readouterr().out


def test_the_mbus_checks_catch_a_joined_block_message_not_accounted(monkeypatch, capsys):
    _planted(monkeypatch, "gbt", "Blocks", "add", "self.messages = add(self.messages, 1)", "pass")
    assert _mbus_run(5) == 1
    assert "decoder counted" in capsys.readouterr().out


@pytest.mark.parametrize("r", _regressions(), ids=lambda r: r["id"])
def test_fuzz_regression_on_cpython(r):
    F.setup()
    errs = F.check_stream(bytes.fromhex(r["hex"]), F.regression_good(r), True, r.get("kamstrup_energy_in_wh", False))
    assert errs == [], r["bug"]
    assert F.P_NAMES[F.LAST_OUTCOME[0]] == r.get("outcome", "ok")


def test_fuzz_regressions_on_micropython_under_heap_lock():
    p = subprocess.run([_MICROPYTHON, "-X", "heapsize=8M", os.path.join(_TOOLS, "fuzz_mpy.py"), "--replay", _REGRESSIONS],
                       capture_output=True, text=True, timeout=120, cwd=_ROOT)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert p.stdout.strip().splitlines()[-1] == "fuzz_mpy: replayed %d, 0 failed" % len(_regressions())
