# test_hdlc_assembler.py Checks the HDLC assembler: finds, checks and joins frames in any byte stream.
# Shared: runs under pytest and under the MicroPython unix port (mpy_runner.py).

import random
from hdlc import Assembler
from fastbytes import crc16, copy
from corpus import records, good_hdlc, Pipeline, hdlc_frame, info_of

_NORWEGIAN = ("aidon", "kaifa", "kamstrup")


def _stream_with_garbage(frames, seed):
    random.seed(seed)
    out = bytearray()
    for f in frames:
        for _ in range(random.randint(0, 40)):
            out.append(random.getrandbits(8))
        if random.getrandbits(1):
            out += b"\x7e\xa0\x2a\x41\x08"  # a header that never completes (its HCS is wrong)
        out += f
    return out


def _feed_in_random_chunks(p, data, seed):
    random.seed(seed)
    buf = bytearray(64)
    i = 0
    while i < len(data):
        n = min(random.randint(1, 64), len(data) - i)
        for j in range(n):
            buf[j] = data[i + j]
        p.assembler.feed(buf, n)
        i += n


def test_crc16_x25_check_values():
    assert crc16(b"123456789", 0, 9) == 0x906E
    assert crc16(b"\x03\x3f", 0, 2) == 0xEC5B  # Green Book test vector


def test_copy_moves_bytes_between_offsets_and_forward_over_an_overlap():
    dst = bytearray(b"..........")
    copy(dst, 2, b"abcdef", 1, 3)
    assert dst == bytearray(b"..bcd.....")
    w = bytearray(b"0123456789")
    copy(w, 0, w, 3, 7)  # the assembler's compaction of its window
    assert w == bytearray(b"3456789789")


def test_whole_corpus_as_one_stream_with_garbage_and_random_chunks_yields_every_frame():
    frames = [r["bytes"] for r in good_hdlc(*_NORWEGIAN)]
    one_by_one = []
    for f in frames:
        one_by_one += Pipeline().feed(f).messages
    assert len(one_by_one) == len(frames)
    for seed in (1, 2, 3):
        p = Pipeline()
        _feed_in_random_chunks(p, _stream_with_garbage(frames, seed), seed)
        assert p.messages == one_by_one
        assert p.assembler.frames_ok == len(frames) and p.assembler.skipped > 0


def test_back_to_back_frames_with_shared_or_separate_flags():
    a, b = [r["bytes"] for r in good_hdlc("kaifa")[:2]]
    p = Pipeline().feed(a + b + a[1:])  # the third shares its opening flag with b's closing flag
    assert len(p.messages) == 3 and p.assembler.skipped == 0


def test_raw_7e_and_7d_inside_frames_are_data():
    frames = [r for r in records("encrypted", "landisgyr") if r["id"] in ("enc-lg-ams-gh501-2", "lg-ams-gh740-2")]
    assert len(frames) == 2 and b"\x7e" in frames[0]["bytes"][1:-1]
    got = []
    a = Assembler(lambda buf, s, e: got.append(bytes(buf[s:e])))
    for r in frames:
        a.feed(r["bytes"], len(r["bytes"]))
    assert a.frames_ok == 2 and a.bad_fcs == 0 and len(got) == 2
    assert got[0][0] == 0xDB and got[1][0] == 0xE0  # ciphered APDU, general block transfer


def test_a_false_header_costs_only_its_own_bytes():
    good = good_hdlc("kaifa")[0]["bytes"]
    junk = b"\x7e\xa7\xff\x41\x08\x83\x13\x00\x00"  # claims 2047 bytes; its HCS fails at once
    p = Pipeline().feed(junk + good)
    assert len(p.messages) == 1 and p.assembler.bad_hcs == 1


def test_a_truncated_frame_loses_only_itself():
    frames = [r["bytes"] for r in good_hdlc("aidon")]
    cut = frames[0][: len(frames[0]) // 2]
    p = Pipeline().feed(cut + frames[1] + frames[2])
    assert len(p.messages) == 2 and p.assembler.bad_fcs == 1


def test_a_corrupted_byte_loses_only_its_frame():
    frames = [bytearray(r["bytes"]) for r in good_hdlc("kamstrup")[:3]]
    frames[1][100] ^= 0x10
    p = Pipeline().feed(b"".join(frames))
    assert len(p.messages) == 2 and p.assembler.bad_fcs == 1


def test_frames_longer_than_the_limit_are_counted_as_oversize():
    big = good_hdlc("aidon")[0]["bytes"]  # 396 bytes
    small = good_hdlc("kaifa")[0]["bytes"]
    got = []
    a = Assembler(lambda buf, s, e: got.append(e - s), frame_max=200)
    data = big + small
    a.feed(data, len(data))
    assert a.oversize == 1 and a.frames_ok == 1 and len(got) == 1


def _segments(frame, parts):
    info = info_of(frame)
    step = len(info) // parts + 1
    pieces = [info[i : i + step] for i in range(0, len(info), step)]
    return [hdlc_frame(x, more=i < len(pieces) - 1) for i, x in enumerate(pieces)]


def test_segmented_frames_are_joined_into_one_message():
    r = good_hdlc("aidon")[0]
    whole = Pipeline().feed(r["bytes"]).messages
    segments = _segments(r["bytes"], 3)
    assert len(segments) == 3 and segments[0][1] & 0x08 and not segments[2][1] & 0x08
    p = Pipeline()
    _feed_in_random_chunks(p, b"".join(segments), 7)
    assert p.messages == whole and p.assembler.frames_ok == 3


def test_a_segmented_message_missing_a_segment_is_dropped_and_the_next_decodes():
    r = good_hdlc("aidon")[0]
    segments = _segments(r["bytes"], 3)
    broken = bytearray(segments[1])
    broken[20] ^= 0xFF
    p = Pipeline().feed(segments[0] + broken + segments[2] + r["bytes"])
    assert p.assembler.bad_fcs == 1
    assert len(p.messages) == 1 and p.decoder.malformed == 0


def test_frames_without_llc_header_are_delivered_whole():
    r = good_hdlc("kaifa")[0]
    apdu = info_of(r["bytes"])[3:]
    got = []
    a = Assembler(lambda buf, s, e: got.append(bytes(buf[s:e])))
    f = hdlc_frame(apdu)
    a.feed(f, len(f))
    assert got == [bytes(apdu)]
