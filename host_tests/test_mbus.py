# test_mbus.py Checks the M-Bus assembler and block transfer: every corpus M-Bus message joined whole, bad frames counted and dropped, any split, zero allocation.
# Shared: runs under pytest and under both MicroPython runtimes (mpy_runner.py).

import sys
import gc
import json
import micropython
from binascii import unhexlify
from mbus import Assembler
from dlms import Decoder
import hdlc
from corpus import records, good_hdlc, info_of, hdlc_frame, mbus_frames, gbt_blocks, glo_ciphered, _DIR

_MPY = sys.implementation.name == "micropython"
_KEY = unhexlify("000102030405060708090A0B0C0D0E0F")


def _expected():
    with open(_DIR + "expected.json") as f:
        return json.load(f)


def _mbus_records():
    return [r for r in records("mbus", "encrypted") if r["framing"] == "mbus"]


def _good():
    return [r for r in _mbus_records() if r["crc_ok"]]


class _Collect:
    # an assembler whose messages are kept as bytes
    def __init__(self, **limits):
        self.got = []
        self.a = Assembler(self._on_apdu, **limits)

    def _on_apdu(self, buf, start, end):
        self.got.append(bytes(buf[start:end]))

    def feed(self, data, chunk=64):
        buf = bytearray(chunk)
        for i in range(0, len(data), chunk):
            n = min(chunk, len(data) - i)
            for j in range(n):
                buf[j] = data[i + j]
            self.a.feed(buf, n)
        return self


def _joined(data):
    # the DLMS bytes of concatenated long frames, cut out by hand: C A CI STSAP DTSAP dropped
    out = b""
    i = 0
    while i < len(data):
        n = data[i + 1]
        out += data[i + 9 : i + 4 + n]
        i += n + 6
    return out


def _cipher_header(apdu):
    # (system title hex, security control, frame counter hex, stated length, bytes after the length)
    assert apdu[0] == 0xDB and apdu[1] == 8
    p = 10
    n = apdu[p]
    p += 1
    if n == 0x81:
        n = apdu[p]
        p += 1
    elif n == 0x82:
        n = apdu[p] << 8 | apdu[p + 1]
        p += 2
    return apdu[2:10].hex(), apdu[p], apdu[p + 1 : p + 5].hex(), n, len(apdu) - p


def test_every_corpus_mbus_message_is_joined_into_its_ciphered_apdu():
    recs = _good()
    assert len(recs) == 4  # two with a published key, two without
    for r in recs:
        c = _Collect().feed(r["bytes"])
        a = c.a
        assert a.frames_ok == len(r["check"]["mbus_frames"]) == 2, r["id"]
        assert a.bad_checksum == a.skipped == a.bad_sequence == a.oversize == 0, r["id"]
        assert c.got == [_joined(r["bytes"])], r["id"]
        h = r["gcm_header"]
        title, sc, counter, n, rest = _cipher_header(c.got[0])
        assert (title, "0x%02x" % sc, counter, n) == (h["system_title"], h["security_control"], h["frame_counter"], h["length"]), r["id"]
        assert rest == n, r["id"]  # the whole ciphertext: no segment lost or doubled
        plain = r.get("decrypted_apdu_hex")
        if plain and sc & 0x10 == 0:
            assert len(plain) // 2 == n - 5, r["id"]  # security control and counter, then as long as the plaintext


def test_corpus_mbus_messages_with_a_published_key_decrypt_to_their_plaintext_in_the_decoder():
    recs = [r for r in _good() if "key" in r]
    assert len(recs) == 2
    for r in recs:
        seen = []
        d = Decoder(key=unhexlify(r["key"]["encryption_key"]))

        def on_apdu(buf, start, end):
            seen.append(end - start)
            d.apdu(buf, start, end)
            seen.append(bytes(buf[d.cipher.start : d.cipher.end]))  # decrypted where it lay

        a = Assembler(on_apdu)
        a.feed(r["bytes"], len(r["bytes"]))
        assert seen == [len(_joined(r["bytes"])), unhexlify(r["decrypted_apdu_hex"])], r["id"]
        assert d.encrypted == 1 and d.no_key == d.wrong_key == 0, r["id"]
        p = Decoder()  # the published plaintext fed whole: the same verdict (the values are the layouts' tests)
        buf = bytearray(unhexlify(r["decrypted_apdu_hex"]))
        p.apdu(buf, 0, len(buf))
        assert (d.decoded, d.malformed, d.unknown) == (p.decoded, p.malformed, p.unknown), r["id"]


def test_a_norwegian_message_in_mbus_segments_decodes_to_its_values():
    expected = _expected()
    for r in good_hdlc("aidon", "kaifa")[:4] + good_hdlc("kamstrup")[:2]:
        apdu = info_of(r["bytes"])[3:]
        for size in (250, 100, 40, 255):
            got = []
            d = Decoder(lambda rd: got.append(json.loads(rd.json())))
            a = Assembler(d.apdu)
            data = mbus_frames(apdu, size)
            a.feed(data, len(data))
            assert got == [expected[r["id"]]], (r["id"], size)
            assert a.frames_ok == (len(apdu) + size - 1) // size


def test_ciphered_norwegian_message_in_mbus_segments_decodes_with_the_key():
    expected = _expected()
    r = good_hdlc("aidon")[0]
    data = mbus_frames(glo_ciphered(info_of(r["bytes"])[3:], _KEY, None, 0x20))
    got = []
    d = Decoder(lambda rd: got.append(json.loads(rd.json())), key=_KEY)
    a = Assembler(d.apdu)
    a.feed(data, len(data))
    assert got == [expected[r["id"]]] and d.encrypted == 1 and a.frames_ok == 2


def test_frames_longer_than_255_bytes_with_a_wrapped_length_are_read():
    apdu = bytes(range(256)) + b"tail"  # 255 data bytes: L = 260, sent as 4
    data = mbus_frames(apdu, 255)
    assert data[:4] == b"\x68\x04\x04\x68" and len(data) == 255 + 11 + 5 + 11
    c = _Collect().feed(data)
    assert c.got == [apdu] and c.a.frames_ok == 2 and c.a.skipped == 0


def test_a_flipped_byte_loses_only_its_message_and_is_counted():
    r = [x for x in _good() if x["id"] == "enc-kaifa-tirol-example"][0]
    data = r["bytes"]
    want = _joined(data)
    first = r["check"]["mbus_frames"][0]["len"]
    for i in list(range(4, first - 2)) + list(range(first + 4, len(data) - 2)):  # C to the last data byte, either frame
        bad = bytearray(data)
        bad[i] ^= 0x01
        c = _Collect().feed(bytes(bad) + data)
        assert c.got == [want] and c.a.bad_checksum == 1, i
    for i in range(len(data)):  # any byte, headers and checksums too: never a wrong message
        for flip in (0x01, 0x80):
            bad = bytearray(data)
            bad[i] ^= flip
            c = _Collect().feed(bytes(bad) + data)
            assert c.got == [want], (i, flip)
            assert c.a.frames_ok in (2, 3), (i, flip)


def test_split_at_every_byte_boundary_gives_the_same_message():
    r = [x for x in _good() if x["id"] == "enc-kaifa-ams-gh905-1"][0]
    data = r["bytes"]
    want = [_joined(data)]
    for i in range(len(data) + 1):
        got = []
        a = Assembler(lambda buf, s, e: got.append(bytes(buf[s:e])))
        head = bytearray(data[:i])
        tail = bytearray(data[i:])
        a.feed(head, len(head))
        a.feed(tail, len(tail))
        assert got == want and a.skipped == 0, i
    assert _Collect().feed(data, 1).got == want  # a byte at a time


def test_frames_among_noise_and_in_random_chunks_are_all_found():
    import random

    frames = [r["bytes"] for r in _good()]
    random.seed(5)
    data = bytearray()
    for f in frames * 2:
        for _ in range(random.randint(0, 30)):
            data.append(random.getrandbits(8))
        data += b"\x68\x30\x30\x68\x53"  # a header whose frame never comes whole (the next 68 resyncs)
        data += f
    c = _Collect()
    i = 0
    while i < len(data):
        n = random.randint(1, 64)
        c.feed(data[i : i + n], n)
        i += n
    assert c.got == [_joined(f) for f in frames * 2]
    assert c.a.skipped > 0


def test_the_negative_fixture_is_refused():
    r = [x for x in _mbus_records() if x.get("negative_fixture")][0]
    c = _Collect().feed(r["bytes"])
    assert c.got == [] and c.a.frames_ok == 0 and c.a.bad_checksum == 1
    good = _good()[0]["bytes"]
    c.feed(good)  # and what comes after it is read
    assert c.got == [_joined(good)]


def test_a_missing_or_repeated_segment_drops_the_message_and_the_next_decodes():
    apdu = bytes(range(200)) * 3
    frames = []
    data = mbus_frames(apdu, 200)
    i = 0
    while i < len(data):
        n = data[i + 1] + 6
        frames.append(data[i : i + n])
        i += n
    assert len(frames) == 3
    # a gap, a repeat, a message never ended: counted; a message whose start was missed (the
    # dongle started mid-message): quietly ignored
    for broken, counted in ((frames[0] + frames[2], 1), (frames[0] + frames[1] + frames[1] + frames[2], 1),
                            (frames[0] + frames[1], 1), (frames[1] + frames[2], 0)):
        c = _Collect().feed(broken + data)
        assert c.got == [apdu] and c.a.bad_sequence == counted, (len(broken), counted)


def test_messages_longer_than_the_buffer_are_counted_as_oversize():
    apdu = bytes(700)
    c = _Collect(apdu_max=600).feed(mbus_frames(apdu) + mbus_frames(apdu[:500]))
    assert c.got == [apdu[:500]] and c.a.oversize == 1 and c.a.frames_ok == 5


def test_frames_of_other_m_bus_applications_are_ignored():
    body = bytes([0x08, 0x01, 0x72]) + bytes(range(30))  # a heat meter's answer: CI 72
    n = len(body)
    other = bytes([0x68, n, n, 0x68]) + body + bytes([sum(body) & 0xFF, 0x16])
    short = b"\x10\x5b\x01\x5c\x16\xe5"  # a short frame and an acknowledgement: bytes outside long frames
    c = _Collect().feed(other + short + mbus_frames(b"\x0f\x00"))
    assert c.got == [b"\x0f\x00"] and c.a.other_ci == 1 and c.a.skipped == len(short)


# General block transfer


def _gbt_records():
    recs = [r for r in records("landisgyr") if r["id"].startswith("lg-ams-gh740-")]
    assert len(recs) == 3
    return recs


def _block_data(r):
    # one corpus block's data part, read by hand: after E0, control, numbers and a one-byte length
    frame = r["bytes"]
    info = info_of(frame)
    if info[:3] == b"\xe6\xe7\x00":
        info = info[3:]
    assert info[0] == 0xE0 and info[6] == len(info) - 7
    return info[7:]


def test_the_e450_blocks_reach_the_notification_decoder_as_one_message():
    recs = _gbt_records()
    whole = b"".join(_block_data(r) for r in recs)
    assert len(whole) == 341 and whole[0] == 0x0F
    d = Decoder()
    a = hdlc.Assembler(d.apdu)
    for r in recs:
        a.feed(r["bytes"], len(r["bytes"]))
    assert d.blocks.blocks == 3 and d.blocks.lost == 0 and d.malformed == 0
    assert bytes(d.blocks.buf[:341]) == whole
    p = Decoder()  # the joined message, fed whole: the same verdict (values once the E450 layout is known)
    buf = bytearray(whole)
    p.apdu(buf, 0, len(buf))
    assert (d.decoded, d.unknown, d.last_unknown_tag, d.last_unknown_items) == (p.decoded, p.unknown, p.last_unknown_tag, p.last_unknown_items)
    assert d.decoded + d.unknown == 1 and d.last_unknown_tag in (-1, 0x0F)


def test_a_norwegian_message_in_blocks_decodes_to_its_values():
    expected = _expected()
    for r in good_hdlc("aidon", "kamstrup")[:3]:
        apdu = info_of(r["bytes"])[3:]
        for size in (112, 40, 200):
            got = []
            d = Decoder(lambda rd: got.append(json.loads(rd.json())))
            a = hdlc.Assembler(d.apdu)
            for i, block in enumerate(gbt_blocks(apdu, size)):
                f = hdlc_frame((b"\xe6\xe7\x00" if i == 0 else b"") + block)  # LLC on the first only, as the E450 sends
                a.feed(f, len(f))
            assert got == [expected[r["id"]]], (r["id"], size)
    sealed = glo_ciphered(info_of(good_hdlc("aidon")[0]["bytes"])[3:], _KEY, None, 0x20)  # ciphered, then in blocks
    got = []
    d = Decoder(lambda rd: got.append(1), key=_KEY)
    for block in gbt_blocks(sealed, 100):
        buf = bytearray(block)
        d.apdu(buf, 0, len(buf))
    assert got == [1] and d.encrypted == 1


def test_a_missing_block_drops_the_message_and_the_next_decodes():
    apdu = info_of(good_hdlc("aidon")[0]["bytes"])[3:]
    blocks = gbt_blocks(apdu, 100)
    assert len(blocks) == 4
    got = []
    d = Decoder(lambda rd: got.append(1))
    for block in blocks[:2] + blocks[3:] + blocks[1:] + blocks:
        buf = bytearray(block)
        d.apdu(buf, 0, len(buf))
    assert got == [1] and d.blocks.lost == 1 and d.malformed == 0


def test_malformed_blocks_are_counted_as_malformed():
    d = Decoder()
    for bad in (b"\xe0\xc0\x00\x01\x00\x00\x05\x0f", b"\xe0\xc0\x00\x01\x00", b"\xe0\xc0\x00\x01\x00\x00\x84\x00\x00\x00\x01\x00",
                b"\xe0\xc0\x00\x01\x00\x00\x82\x00"):
        buf = bytearray(bad)
        d.apdu(buf, 0, len(buf))
    assert d.malformed == 4 and d.decoded == 0 and d.blocks.blocks == 0
    nested = gbt_blocks(gbt_blocks(b"\x0f\x00\x00\x00\x00\x00\x02\x00")[0])[0]  # a block holding a block
    buf = bytearray(nested)
    d.apdu(buf, 0, len(buf))
    assert d.unknown == 1 and d.last_unknown_tag == 0xE0


def test_block_messages_longer_than_the_buffer_are_counted_as_oversize():
    from gbt import Blocks

    b = Blocks(300)
    for message in (bytes(400), bytes(250)):
        results = []
        for block in gbt_blocks(message, 100):
            results.append(b.add(block, 0, len(block)))
    assert results[-1] == 250 and b.oversize == 1 and b.lost == 0


# Zero allocation


def _locked(run):
    run()  # warm-up: the block buffer is made at the first block
    if not _MPY:
        return run()
    gc.collect()
    before = gc.mem_alloc()
    micropython.heap_lock()
    try:
        out = run()
    finally:
        micropython.heap_unlock()
    assert gc.mem_alloc() == before
    return out


def test_mbus_and_block_paths_allocate_nothing_under_heap_lock():
    paths = []
    for r in _mbus_records():  # the negative fixture too
        key = unhexlify(r["key"]["encryption_key"]) if "key" in r else None
        d = Decoder(key=key)
        paths.append((Assembler(d.apdu), d, bytearray(r["bytes"])))
    for r in good_hdlc("aidon")[:2]:
        d = Decoder()
        data = mbus_frames(info_of(r["bytes"])[3:], 60)
        bad = bytearray(data)
        bad[30] ^= 1
        paths.append((Assembler(d.apdu), d, bytearray(data + bad + data[70:] + data)))
    d = Decoder()
    blocks = b"".join(r["bytes"] for r in _gbt_records())
    paths.append((hdlc.Assembler(d.apdu), d, bytearray(blocks)))
    chunk = bytearray(64)

    def run():
        for a, _, data in paths:
            i = 0
            n = len(data)
            while i < n:  # 1 to 64 bytes at a time through one scratch buffer, as the UART path does
                k = (i * 7 + 1) % 64 + 1
                if k > n - i:
                    k = n - i
                for j in range(k):
                    chunk[j] = data[i + j]
                a.feed(chunk, k)
                i += k

    _locked(run)
    assert sum(d.decoded for _, d, _ in paths[5:7]) == 2 * 2 * 2  # warm-up and locked run, two messages each
    assert sum(d.encrypted for _, d, _ in paths[:5]) == 2 * 4
    assert paths[7][1].blocks.blocks == 2 * 3


def test_counters_wrap_at_2_to_the_30_under_heap_lock():
    # small ints on a 32-bit port stop at 2**30 - 1: every counter wraps before it would allocate
    top = (1 << 30) - 1
    a = Assembler(lambda buf, start, end: None, apdu_max=300)
    body = bytes([0x08, 0x01, 0x72, 1, 2])
    other = bytes([0x68, 5, 5, 0x68]) + body + bytes([sum(body) & 0xFF, 0x16])
    good = mbus_frames(b"\x0f\x00", 100)
    long = mbus_frames(bytes(400), 200)
    broken = bytearray(good)
    broken[6] ^= 1
    data = bytearray(b"\x00" + bytes(broken) + other + long + long[: len(long) // 2] + good)
    from gbt import Blocks

    b = Blocks(100)
    blocks = [bytearray(x) for x in gbt_blocks(bytes(150), 60)] + [bytearray(x) for x in gbt_blocks(bytes(200), 60)]
    del blocks[4]  # the first message is too long for 100 bytes; the second loses its second block
    blocks += [bytearray(x) for x in gbt_blocks(bytes(20), 60)]

    def run():
        for name in ("frames_ok", "bad_checksum", "oversize", "bad_sequence", "other_ci", "skipped"):
            setattr(a, name, top)
        for name in ("blocks", "messages", "lost", "oversize"):
            setattr(b, name, top)
        a.feed(data, len(data))
        for x in blocks:
            b.add(x, 0, len(x))

    _locked(run)
    # each run adds 5 good frames, one of each fault and 14 skipped bytes to 2**30 - 1: n - 1 after the wrap
    assert (a.frames_ok, a.bad_checksum, a.oversize, a.bad_sequence, a.other_ci, a.skipped) == (4, 0, 0, 0, 0, 13)
    assert (b.blocks, b.messages, b.lost, b.oversize) == (6, 0, 0, 0)  # 7 blocks, one message of each fate
