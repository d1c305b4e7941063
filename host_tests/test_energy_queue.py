# test_energy_queue.py Checks the energy queue on flash: order, few writes, a reset at every byte of a write, damaged files, RAM.
# Shared: runs under pytest and under MicroPython (mpy_runner.py), on the x64 unix port and the 32-bit one.

import gc
import os
import random

from energy_queue import EnergyQueue

_DIR = "/tmp"


def _fresh():
    # a file name of this run's own (helpers and CI may run the suite side by side)
    return "%s/han-test-equeue-%d.txt" % (_DIR, random.getrandbits(30))


def _clean(path):
    for p in (path, path + ".tmp", path + ".bad"):
        try:
            os.remove(p)
        except OSError:
            pass


def _msg(hour):
    return '{"meter_datetime": "2020-01-01T%02d:00:10", "active_energy_import": %d.144, "received": "2026-01-01T%02d:00:11Z"}' % (
        hour % 24, 79591 + hour, hour % 24)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _drain(q):
    # every message first() gives, in order, each acknowledged in RAM only (nothing written)
    out = []
    while len(q):
        out.append(q.first())
        q.acknowledged()
    return out


def _queue(path, limit=72):
    logs = []
    return EnergyQueue(path, limit, logs.append), logs


def test_messages_stay_on_flash_in_order_until_acknowledged():
    path = _fresh()
    q, _ = _queue(path)
    for h in range(3):
        assert q.add(_msg(h))
    q, logs = _queue(path)  # a reset
    assert len(q) == 3 and logs == ["energy queue: 3 message(s) waiting"]
    assert q.first() == _msg(0)
    assert q.first() == _msg(0)  # not acknowledged: the same one again
    q.acknowledged()
    assert q.first() == _msg(1)
    q.acknowledged()
    q.save()
    q, _ = _queue(path)
    assert len(q) == 1 and q.first() == _msg(2)
    q.add(_msg(3))  # a message comes while the first is out: it goes behind it
    q.acknowledged()
    assert _drain(q) == [_msg(3)]
    _clean(path)


def test_one_write_per_message_and_one_per_acknowledged_batch():
    path = _fresh()
    q, _ = _queue(path)
    q.save()
    assert q.writes == 0 and q.first() is None and not _exists(path)
    for h in range(3):
        q.add(_msg(h))
    assert q.writes == 3
    q.first()  # sent, never acknowledged (the broker went away)
    q.save()
    assert q.writes == 3
    assert _drain(q) == [_msg(0), _msg(1), _msg(2)]
    assert q.writes == 3  # acknowledgements wait in RAM ...
    q.save()
    assert q.writes == 4  # ... and go to flash together
    q.save()
    assert q.writes == 4
    assert _read(path) == b"end 0\n" and not _exists(path + ".tmp")
    q.add(_msg(3))  # messages acknowledged but not saved leave the file with the next write
    q.first()
    q.acknowledged()
    q.add(_msg(4))
    assert q.writes == 6 and _read(path) == (_msg(4) + "\nend 1\n").encode()
    _clean(path)


def test_a_full_queue_drops_the_oldest_and_counts_it():
    path = _fresh()
    q, logs = _queue(path, limit=3)
    for h in range(5):
        assert q.add(_msg(h))
    assert len(q) == 3 and q.dropped == 2 and q.writes == 5
    assert logs[-1] == "energy queue: full, the oldest message dropped (2 since boot)"
    q, _ = _queue(path, limit=3)
    assert _drain(q) == [_msg(2), _msg(3), _msg(4)]
    _clean(path)


def _after(path, old, change):
    # the bytes the file holds after `change` is made to a queue whose file holds `old`
    _write(path, old)
    q, _ = _queue(path)
    change(q)
    return _read(path)


def _ack_two(q):
    for _ in range(2):
        q.first()
        q.acknowledged()
    q.save()


def test_a_reset_at_any_byte_of_a_write_loses_no_message():
    # every point a reset or power cut can fall: the temp file cut off after k bytes (k = its length:
    # written whole, not yet renamed), and, as on FAT, the old file already removed before the rename
    path = _fresh()
    msgs = [_msg(h) for h in range(3)]
    old = ("".join(m + "\n" for m in msgs) + "end 3\n").encode()
    for change, after in ((lambda q: q.add(_msg(3)), msgs + [_msg(3)]), (_ack_two, msgs[2:])):
        new = _after(path, old, change)
        for k in range(len(new) + 1):
            _write(path, old)
            _write(path + ".tmp", new[:k])
            q, logs = _queue(path)
            got = _drain(q)
            if k < len(new):  # cut off while written: as before the change (a message being added is lost
                assert got == msgs, k  # with the RAM it was in; acknowledged ones go out again)
                assert logs[0] == "energy queue: undid a write a reset cut off"
            else:  # written whole: the rename is done now
                assert got == after, k
                assert logs[0] == "energy queue: finished a write a reset cut off"
            assert not _exists(path + ".tmp") and _read(path) == (old if k < len(new) else new)
        os.remove(path)  # FAT: rename over a file removes it first
        _write(path + ".tmp", new)
        q, _ = _queue(path)
        assert _drain(q) == after and not _exists(path + ".tmp")
    _clean(path)


def test_a_damaged_file_keeps_its_readable_messages_and_is_kept_aside():
    path = _fresh()
    damaged = (_msg(0) + "\n" + "{not json}\n" + "x" * 3000 + "\n" + _msg(1) + "\n").encode() + b"\xff\xfe{\n" + _msg(2).encode()
    _write(path, damaged)  # ends in a torn message and has no end line
    q, logs = _queue(path)
    assert len(q) == 2 and q.corrupt == 4 and q.dropped == 0
    assert logs[0] == "energy queue: %s was damaged: 4 unreadable line(s) skipped, 2 message(s) kept; the old file is %s.bad" % (path, path)
    assert _read(path + ".bad") == damaged
    q, logs = _queue(path)  # repaired: whole again
    assert q.corrupt == 0 and logs == ["energy queue: 2 message(s) waiting"]
    assert _drain(q) == [_msg(0), _msg(1)]
    _clean(path)


def test_a_file_without_its_end_line_is_repaired_and_one_over_the_limit_shrinks_at_the_next_message():
    path = _fresh()
    _write(path, ("".join(_msg(h) + "\n" for h in range(4))).encode())  # cut off at a line's end
    q, logs = _queue(path, limit=3)
    assert "was damaged: 0 unreadable line(s) skipped, 4 message(s) kept" in logs[0]
    assert q.corrupt == 0 and len(q) == 4  # kept: a queue from a firmware with a higher limit
    q.add(_msg(4))
    assert q.dropped == 2 and _drain(q) == [_msg(2), _msg(3), _msg(4)]
    _write(path, (_msg(0) + "\nend 2\n").encode())  # the end line counts more than there are
    q, logs = _queue(path)
    assert "was damaged: 0 unreadable line(s) skipped, 1 message(s) kept" in logs[0] and _drain(q) == [_msg(0)]
    _clean(path)


def test_a_message_that_is_not_one_line_of_json_is_refused_and_counted():
    path = _fresh()
    q, logs = _queue(path)
    assert not q.add('{"a": 1}\n{"b": 2}')
    assert not q.add('{"a": "%s"}' % ("x" * 2000))
    assert len(q) == 0 and q.dropped == 2 and q.writes == 0 and "refused a 2009-byte message" in logs[-1]
    _clean(path)


def test_a_state_directory_that_cannot_be_written_costs_log_lines_not_the_loop():
    path = "/tmp/han-test-no-such-dir-%d/energy_queue.txt" % random.getrandbits(30)
    q, logs = _queue(path)
    assert len(q) == 0 and not logs
    assert not q.add(_msg(0))
    assert q.dropped == 1 and "cannot write %s.tmp" % path in logs[0] and logs[1] == "energy queue: lost " + _msg(0)


def _collects():
    # whether gc.collect() frees what nothing refers to: the WebAssembly port's keeps what its stack
    # may still point at, so there only the allocations of each step can be measured
    gc.collect()
    before = gc.mem_alloc()
    junk = [bytearray(256) for _ in range(16)]
    junk = None
    gc.collect()
    return gc.mem_alloc() - before < 1024


def _kept(path):
    # the queue of `path` and the bytes it keeps in the heap (in a frame of its own: the caller's may
    # still point at earlier objects)
    gc.collect()
    before = gc.mem_alloc()
    q = EnergyQueue(path, 72, lambda text: None)
    gc.collect()
    return q, gc.mem_alloc() - before


def test_ram_holds_counts_not_messages_and_no_step_allocates_more_than_2_kb():
    # 72 messages are about 17 KB as strings; the queue keeps a count and offsets, copies through a
    # 256-byte buffer and reads one line at a time. gc.mem_alloc() exists on MicroPython only.
    path = _fresh()
    q, _ = _queue(path)
    for h in range(72):
        q.add(_msg(h))
    mpy = hasattr(gc, "mem_alloc")
    q, kept = _kept(path) if mpy else (EnergyQueue(path, 72, print), 0)
    assert len(q) == 72
    for name, value in q.__dict__.items():  # what it keeps: numbers, its names, the buffer
        assert name == "log" or isinstance(value, (int, bool, type(None))) or len(value) <= 256, name
    if not mpy:
        _clean(path)
        return
    if _collects():
        assert kept < 1024, kept  # x64: a 32-bit heap needs less
    for step in (lambda: q.add(_msg(72)), q.first, q.acknowledged, q.save):  # a full queue: drop, copy 17 KB
        gc.collect()
        gc.disable()  # every byte the step allocates counts, none is collected in between
        start = gc.mem_alloc()
        step()
        used = gc.mem_alloc() - start
        gc.enable()
        assert used < 2048, used
    assert q.dropped == 1 and q.writes == 2
    _clean(path)
