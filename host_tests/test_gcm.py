# test_gcm.py Checks AES-128-GCM decryption of encrypted meters: the spec's test vectors, every encrypted corpus frame, wrong keys and tags, no allocation.
# Shared: runs under pytest and under MicroPython (mpy_runner.py), on the x64 unix port (cryptolib's AES)
# and the 32-bit one (no cryptolib: aes128.py's AES).

import sys
import gc
import json
import micropython
from binascii import unhexlify
import aes128
import gcm
from gcm import Gcm
from dlms import Decoder
from hdlc import Assembler
import mbus
from corpus import records, good_hdlc, hdlc_frame, info_of, glo_ciphered, Pipeline, _DIR

_MICROPYTHON = sys.implementation.name == "micropython"
_KEY = unhexlify("000102030405060708090A0B0C0D0E0F")
_AUTH_KEY = unhexlify("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
_TITLE = b"TESTMTR\x01"  # a system title is 8 bytes; meters put their FLAG id first

# AES-128-GCM test cases 1 to 4 of the GCM specification (McGrew and Viega, "The Galois/Counter Mode of
# Operation", appendix B): key, IV, additional data, plaintext, ciphertext, tag
_K3 = "feffe9928665731c6d6a8f9467308308"
_IV3 = "cafebabefacedbaddecaf888"
_P3 = ("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
       "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255")
_C3 = ("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
       "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985")
_SPEC_CASES = (
    ("00" * 16, "00" * 12, "", "", "", "58e2fccefa7e3061367f1d57a4e7455a"),
    ("00" * 16, "00" * 12, "", "00" * 16, "0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"),
    (_K3, _IV3, "", _P3, _C3, "4d5c2af327cd64a62cf35abd2ba6fab4"),
    (_K3, _IV3, "feedfacedeadbeeffeedfacedeadbeefabaddad2", _P3[:120], _C3[:120], "5bc94fbc3221a5db94fae95ae7121a47"),
)


def _expected():
    with open(_DIR + "expected.json") as f:
        return json.load(f)


def _keys(r):
    # the record's published keys as 16-byte strings
    k = r["key"]
    ak = k.get("authentication_key")
    return unhexlify(k["encryption_key"]), (unhexlify(ak) if ak else None)


def _mbus_apdu(data):
    # the DLMS message of concatenated M-Bus long frames, joined by the M-Bus assembler
    out = []
    a = mbus.Assembler(lambda buf, start, end: out.append(bytearray(buf[start:end])))
    a.feed(data, len(data))
    assert a.frames_ok == 2 and len(out) == 1
    return out[0]


def _feed(r, decoder):
    # one encrypted corpus record through the decoder: HDLC frames through the assembler too
    if r["framing"] == "hdlc":
        a = Assembler(decoder.apdu)
        a.feed(r["bytes"], len(r["bytes"]))
        assert a.frames_ok == 1, r["id"]
    else:
        a = mbus.Assembler(decoder.apdu)
        a.feed(r["bytes"], len(r["bytes"]))
        assert a.frames_ok == 2, r["id"]


def _plaintext(r):
    return unhexlify(r.get("decrypted_apdu_hex") or r["expected"]["decrypted_apdu_hex"])


def _outcome(decoder, messages):
    return (messages, decoder.decoded, decoder.malformed, decoder.unknown, decoder.last_unknown_tag)


def _flipped(key):
    k = bytearray(key)
    k[5] ^= 0x20
    return bytes(k)


def _seal(plain, sc=0x30):
    return glo_ciphered(plain, _KEY, _AUTH_KEY, sc, _TITLE)


def _sealed_frame(r, sc=0x30):
    # a Norwegian corpus frame with its APDU encrypted, in a new HDLC frame
    return hdlc_frame(b"\xe6\xe7\x00" + _seal(info_of(r["bytes"])[3:], sc))


def test_aes_block_is_the_fips_197_example_with_either_implementation():
    plain = unhexlify("00112233445566778899aabbccddeeff")
    for impl in (aes128.aes, gcm.aes):  # the plain-Python one, and the one gcm.py uses here
        out = bytearray(16)
        impl(bytes(range(16)), 1).encrypt(plain, out)
        assert out == unhexlify("69c4e0d86a7b0430d8cdb78070b4c55a")
        impl(bytes(16), 1).encrypt(bytes(16), out)
        assert out == unhexlify("66e94bd4ef8a2c3b884cfa59ca342b2e")


def test_gcm_spec_test_cases_decrypt_encrypt_and_authenticate():
    for key, iv, aad, plain, cipher, want in _SPEC_CASES:
        key, iv, aad, plain, cipher = (unhexlify(x) for x in (key, iv, aad, plain, cipher))
        g = Gcm(key)
        tag = bytearray(16)
        for text, result, run in ((cipher, plain, g.decrypt), (plain, cipher, g.encrypt)):
            g.begin(iv)
            g.aad(aad, 0, len(aad))
            buf = bytearray(text)
            run(buf, 0, len(buf))
            g.tag(tag)
            assert buf == result and tag == unhexlify(want), want
        if len(cipher) > 32:  # text in more than one call: whole blocks first
            g.begin(iv)
            g.aad(aad, 0, len(aad))
            buf = bytearray(cipher)
            g.decrypt(buf, 0, 32)
            g.decrypt(buf, 32, len(buf))
            assert buf == plain and g.tag_matches(unhexlify(want), 0, 16)


def test_every_encrypted_corpus_frame_decrypts_to_its_published_plaintext():
    # decrypted with its key, each frame reads as its published plaintext fed in plain does, and
    # that is a decoded message (test_layouts_abroad.py checks its values against the record)
    recs = records("encrypted")
    assert len(recs) == 5
    for r in recs:
        key, auth_key = _keys(r)
        messages = []
        d = Decoder(lambda rd: messages.append(rd.json()), key=key, auth_key=auth_key)
        _feed(r, d)
        assert d.encrypted == 1 and d.no_key == 0 and d.wrong_key == 0, r["id"]
        plain = bytearray(_plaintext(r))
        direct = []
        p = Decoder(lambda rd: direct.append(rd.json()))
        p.apdu(plain, 0, len(plain))
        assert _outcome(d, messages) == _outcome(p, direct), r["id"]
        assert d.decoded == 1 and len(messages) == 1 and '"active_energy_import"' in messages[0], r["id"]


def test_the_plaintext_is_left_in_place_where_the_ciphertext_was():
    for r in records("encrypted"):
        key, auth_key = _keys(r)
        apdu = _mbus_apdu(r["bytes"]) if r["framing"] == "mbus" else bytearray(info_of(r["bytes"])[3:])
        g = Gcm(key, auth_key)
        assert g.open(apdu, 0, len(apdu)) == gcm.OK, r["id"]
        assert apdu[g.start : g.end] == _plaintext(r), r["id"]
        assert g.checks_tags == (r["gcm_tag_ok"] is True), r["id"]  # the two frames with a published AK


def test_norwegian_frames_encrypted_by_a_meter_decode_to_their_values():
    # Norwegian layouts, encrypted in all three security modes: authenticated and encrypted, encrypted only, authenticated only
    expected = _expected()
    for r in good_hdlc("aidon", "kaifa") + good_hdlc("kamstrup")[:3]:
        for sc in (0x30, 0x20, 0x10):
            p = Pipeline(key=_KEY, auth_key=_AUTH_KEY).feed(_sealed_frame(r, sc))
            assert p.messages == [expected[r["id"]]], (r["id"], sc)
            assert p.decoder.encrypted == 1 and p.decoder.decoded == 1


def test_without_a_key_encrypted_frames_are_counted_as_no_key():
    p = Pipeline()
    for r in records("encrypted"):
        _feed(r, p.decoder)
    d = p.decoder
    assert p.messages == [] and d.encrypted == 5 and d.no_key == 5 and d.wrong_key == 0
    assert d.decoded == d.malformed == d.unknown == 0
    assert d.counters()["no_key"] == 5


def test_a_wrong_key_is_reported_as_wrong_key_with_and_without_the_tag():
    for r in records("encrypted"):
        key, auth_key = _keys(r)
        for keys in ((_flipped(key), auth_key), (_flipped(key), None)):
            d = Decoder(lambda rd: None, key=keys[0], auth_key=keys[1])
            _feed(r, d)
            assert d.wrong_key == 1 and d.no_key == 0, r["id"]
            assert d.decoded == d.malformed == d.unknown == 0, r["id"]
    r = records("encrypted")[0]  # a wrong authentication key alone
    d = Decoder(key=_keys(r)[0], auth_key=_flipped(_keys(r)[1]))
    _feed(r, d)
    assert d.wrong_key == 1


def test_a_flipped_tag_byte_is_counted_and_dropped_when_the_tag_is_checked():
    r = good_hdlc("aidon")[0]
    sealed = bytearray(_seal(info_of(r["bytes"])[3:]))
    for i in (len(sealed) - 12, len(sealed) - 1):  # the tag's first and last byte
        bad = bytearray(sealed)
        bad[i] ^= 0x01
        frames = hdlc_frame(b"\xe6\xe7\x00" + bad) + hdlc_frame(b"\xe6\xe7\x00" + sealed)
        p = Pipeline(key=_KEY, auth_key=_AUTH_KEY).feed(frames)
        assert p.decoder.wrong_key == 1 and p.decoder.decoded == 1 and len(p.messages) == 1
        p = Pipeline(key=_KEY).feed(frames)  # no authentication key: the tag is not checked
        assert p.decoder.wrong_key == 0 and p.decoder.decoded == 2
    bad = bytearray(sealed)
    bad[40] ^= 0x01  # ciphertext: caught by the tag
    p = Pipeline(key=_KEY, auth_key=_AUTH_KEY).feed(hdlc_frame(b"\xe6\xe7\x00" + bad))
    assert p.decoder.wrong_key == 1 and p.messages == []


def test_cut_or_unsupported_cipher_headers_are_malformed_or_unknown_not_wrong_key():
    sealed = _seal(info_of(good_hdlc("aidon")[0]["bytes"])[3:])
    d = Decoder(key=_KEY, auth_key=_AUTH_KEY)
    for n in (1, 2, 10, 12, 16, len(sealed) - 1):
        buf = bytearray(sealed[:n])
        d.apdu(buf, 0, n)
    assert d.malformed == 6 and d.wrong_key == 0
    for sc in (0xB0, 0x32):  # compression; security suite 2
        buf = bytearray(sealed)
        buf[13] = sc
        d.apdu(buf, 0, len(buf))
    assert d.unknown == 2 and d.last_unknown_tag == 0xDB and d.wrong_key == 0


def _locked(run):
    # run() twice: a warm-up, then with the heap locked and nothing allocated (MicroPython)
    run()
    if not _MICROPYTHON:
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


def test_decrypting_and_decoding_allocate_nothing_under_heap_lock():
    # every encrypted corpus frame, a wrong key, a bad tag and Norwegian frames sealed three ways
    cases = []
    for r in records("encrypted"):
        key, auth_key = _keys(r)
        framing = Assembler if r["framing"] == "hdlc" else mbus.Assembler
        cases.append((key, auth_key, r["bytes"], framing))
        cases.append((_flipped(key), auth_key, r["bytes"], framing))
    for r in good_hdlc("aidon")[:2] + good_hdlc("kaifa")[:2]:
        cases.extend((_KEY, _AUTH_KEY, _sealed_frame(r, sc), Assembler) for sc in (0x30, 0x20, 0x10))
    paths = []
    for key, auth_key, data, framing in cases:
        d = Decoder(key=key, auth_key=auth_key)
        paths.append((framing(d.apdu), d, bytearray(data), len(data)))

    def run():
        for a, d, data, n in paths:
            a.feed(data, n)  # the assembler copies: the frame stays as sent for the next round

    _locked(run)
    decoded = sum(d.decoded for _, d, _, _ in paths)
    wrong = sum(d.wrong_key for _, d, _, _ in paths)
    assert decoded == 2 * (4 * 3 + 5) and wrong == 2 * 5  # each round: the sealed Norwegian frames and the corpus'
