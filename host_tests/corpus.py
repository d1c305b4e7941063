# corpus.py Provides the real meter frames of host_tests/fixtures/, a way to run them through the pipeline, and encryption as a meter does it.
# Runs under CPython and the MicroPython unix port alike.

import json
from hdlc import Assembler
from dlms import Decoder

_DIR = __file__.rsplit("/", 1)[0] + "/fixtures/" if "/" in __file__ else "fixtures/"


def records(*makers):
    out = []
    for maker in makers:
        with open(_DIR + maker + ".jsonl") as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    r["bytes"] = bytes.fromhex(r["hex"]) if "hex" in r else r["text"].encode()  # P1 telegrams are text
                    out.append(r)
    return out


def good_p1():
    # P1 telegrams whose CRC matches (the corpus also has two sent without one)
    return [r for r in records("p1") if r["crc_ok"]]


def good_hdlc(*makers):
    # CRC-valid, whole HDLC frames
    return [r for r in records(*makers) if r["framing"] == "hdlc" and r["crc_ok"] and not r.get("segmented_hdlc")]


class Pipeline:
    # assembler -> decoder, collecting each decoded message as a dict
    def __init__(self, **options):
        self.messages = []
        self.decoder = Decoder(self._on_reading, **options)
        self.assembler = Assembler(self.decoder.apdu)

    def _on_reading(self, rd):
        self.messages.append(json.loads(rd.json()))

    def feed(self, data, chunk=64):
        buf = bytearray(chunk)
        for i in range(0, len(data), chunk):
            n = min(chunk, len(data) - i)
            for j in range(n):
                buf[j] = data[i + j]
            self.assembler.feed(buf, n)
        return self


def hdlc_frame(info, more=False, address=b"\x41\x08\x83", control=0x13):
    # a type-3 HDLC frame around info (S bit set when more segments follow), with HCS and FCS
    from fastbytes import crc16

    length = 2 + len(address) + 1 + 2 + len(info) + 2
    head = bytearray([0xA0 | (0x08 if more else 0) | length >> 8, length & 0xFF]) + address + bytes([control])
    hcs = crc16(head, 0, len(head))
    body = head + bytes([hcs & 0xFF, hcs >> 8]) + info
    fcs = crc16(body, 0, len(body))
    return b"\x7e" + bytes(body) + bytes([fcs & 0xFF, fcs >> 8]) + b"\x7e"


def info_of(frame):
    # the information field of a whole single-segment frame (LLC included)
    i = 3
    while not frame[i] & 1:  # destination address
        i += 1
    i += 1
    while not frame[i] & 1:  # source address
        i += 1
    return frame[i + 4 : len(frame) - 3]  # after control and HCS, before FCS and flag


def glo_ciphered(apdu, key, auth_key, sc=0x30, title=b"TESTMTR\x01", counter=b"\x00\x00\x01\x00"):
    # apdu as an encrypting meter sends it: general-glo-ciphering (docs/decoder.md), AES-128-GCM with
    # IV = title || counter; sc 0x30 encrypted and authenticated, 0x20 encrypted, 0x10 authenticated
    from gcm import Gcm

    g = Gcm(key, auth_key)
    g.begin(title + counter)
    body = bytearray(apdu)
    if sc & 0x10:
        aad = bytes([sc]) + auth_key + (b"" if sc & 0x20 else bytes(apdu))
        g.aad(aad, 0, len(aad))
    if sc & 0x20:
        g.encrypt(body, 0, len(body))
    tag = bytearray(16)
    g.tag(tag)
    tag = bytes(tag[:12]) if sc & 0x10 else b""  # DLMS sends the first 12 bytes
    n = 5 + len(body) + len(tag)
    length = bytes([n]) if n < 0x80 else (bytes([0x81, n]) if n < 0x100 else bytes([0x82, n >> 8, n & 0xFF]))
    return b"\xdb\x08" + title + length + bytes([sc]) + counter + bytes(body) + tag


def mbus_frames(apdu, size=250, control=0x53):
    # apdu as an Austrian meter sends it: M-Bus long frames (docs/decoder.md) of up to size data
    # bytes each, the CI numbering the segments (10 alone; 00, 01, .. then 1n); an L above 255 is
    # sent wrapped in its byte, as Sagemcom T210-D meters do
    pieces = [apdu[i : i + size] for i in range(0, len(apdu), size)] or [b""]
    out = b""
    for i, piece in enumerate(pieces):
        ci = i & 0x0F | (0x10 if i == len(pieces) - 1 else 0)
        body = bytes([control, 0xFF, ci, 0x01, 0x67]) + bytes(piece)
        n = len(body) & 0xFF
        out += bytes([0x68, n, n, 0x68]) + body + bytes([sum(body) & 0xFF, 0x16])
    return out


def gbt_blocks(apdu, size=112):
    # apdu in general-block-transfer blocks (docs/decoder.md), each a whole APDU: E0, control
    # (80 on the last block, 40 streaming), block number from 1, acknowledged 0, A-XDR length
    pieces = [apdu[i : i + size] for i in range(0, len(apdu), size)]
    out = []
    for i, piece in enumerate(pieces):
        n = len(piece)
        length = bytes([n]) if n < 0x80 else (bytes([0x81, n]) if n < 0x100 else bytes([0x82, n >> 8, n & 0xFF]))
        control = 0xC0 if i == len(pieces) - 1 else 0x40
        out.append(bytes([0xE0, control, (i + 1) >> 8, (i + 1) & 0xFF, 0, 0]) + length + bytes(piece))
    return out
