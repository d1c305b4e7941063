# gcm.py Provides Gcm: AES-128-GCM decryption in place with the tag check, for DLMS general-glo-ciphering APDUs.
# MIT license
#
# cryptolib on the ESP32 has AES in ECB only (CTR is off in the stock builds, GCM absent), so the
# counter mode and GHASH are built here on one AES block at a time (NIST SP 800-38D). A port
# without cryptolib (the WebAssembly one, CPython) gets the plain-Python AES of aes128.py.
# Everything is made with the keys; a frame then allocates nothing: GHASH works on 16-bit limbs
# with a 4-bit table of multiples of H, so no value passes 2**16 and no big int is formed.
# The APDU layout, IV and AAD are in docs/decoder.md ("Encrypted meters").

from array import array
from micropython import const

from counter import add

try:
    from cryptolib import aes
except ImportError:  # no cryptolib on this port: AES in plain Python, allocation-free per block
    from aes128 import aes

# open() results; the first three are axdr.py's values
OK = const(0)
MALFORMED = const(1)  # the header is cut short or its lengths do not add up
UNSUPPORTED = const(2)  # compression, or a security suite other than AES-GCM-128 (0 and 1)
BAD_TAG = const(3)  # the authentication tag does not match: wrong keys or a damaged frame
_UNKNOWN = const(2)  # axdr.UNKNOWN, as Decoder.apdu returns it (OK and MALFORMED are axdr's too)
_DATA_NOTIFICATION = const(0x0F)
_OCTET_STRING = const(0x09)  # axdr.OCTET_STRING

_GLO = const(0xDB)  # general-glo-ciphering
_DED = const(0xDC)  # general-ded-ciphering: the same layout, a dedicated key
_TITLE = const(8)  # system-title length
_TAG = const(12)  # DLMS truncates the GCM tag to 12 bytes
_SC_AUTH = const(0x10)  # security control byte: authenticated
_SC_ENC = const(0x20)  # encrypted
_SC_OTHER = const(0x8E)  # compression, or suite bits beyond suites 0 and 1


def _one_notification(wk, buf, start, end):
    # whether buf[start:end] holds one whole data-notification: what the right key yields. A wrong
    # key yields random bytes, which pass this about once in millions of frames; the tag, when
    # checked, catches even those.
    wk.reset(buf, start, end)
    if wk.byte() != _DATA_NOTIFICATION or not wk.skip_content(0x06, 0):
        return False
    b = wk.byte()
    if b == _OCTET_STRING:
        b = wk.byte()
    if b == 12:
        if not wk.skip_content(0x19, 0):  # a date-time: 12 bytes
            return False
    elif b != 0:
        return False
    return wk.skip() and wk.pos == end


def _reduction():
    # the 4 bits shifted out of Z by Z * x^4, folded back: x^128 = x^7 + x^2 + x + 1, which is
    # 0xE1 at the top of GCM's reflected block; only the top limb is touched
    r = array("H", bytes(32))
    for c in range(16):
        v = 0
        for k in range(4):
            v >>= 1
            if c >> k & 1:
                v ^= 0xE100
        r[c] = v
    return r


_REDUCE = _reduction()
del _reduction


class Gcm:
    def __init__(self, key, auth_key=None):
        # key, auth_key: 16 bytes each; without auth_key tags are not checked (open() only decrypts)
        self._aes = aes(bytes(key), 1)
        self._aad = bytearray(17)  # security control byte || authentication key
        self.checks_tags = auth_key is not None
        if auth_key is not None:
            for i in range(16):
                self._aad[1 + i] = auth_key[i]
        self._cb = bytearray(16)  # counter block: IV (12 bytes) || 32-bit counter
        self._ks = bytearray(16)  # one block of key stream
        self._ej0 = bytearray(16)  # E(K, IV || 1): masks the tag
        self._x = array("H", bytes(16))  # GHASH state: 8 big-endian 16-bit limbs
        self._fill = 0  # bytes of the current GHASH block taken so far
        self._alen = 0  # bytes of additional data and of ciphertext hashed (for the length block)
        self._clen = 0
        self._table = array("H", bytes(2 * 8 * 16))  # limbs of n * H for each 4-bit n
        self.start = 0  # where open() left the plaintext: buf[start:end]
        self.end = 0
        h = bytearray(16)
        self._aes.encrypt(h, h)  # the hash key H = E(K, 0^128)
        self._fill_table(h)

    def _fill_table(self, h):
        # GCM's bit order: the first bit of a block is the coefficient of x^0, so in a nibble n
        # 8 stands for H, 4 for H*x, 2 for H*x^2, 1 for H*x^3
        t = self._table
        v = [h[2 * i] << 8 | h[2 * i + 1] for i in range(8)]
        for bit in (8, 4, 2, 1):
            for i in range(8):
                t[8 * bit + i] = v[i]
            carry = v[7] & 1  # v = v * x: shift towards the last bit, fold x^128 back
            for i in range(7, 0, -1):
                v[i] = v[i] >> 1 | (v[i - 1] & 1) << 15
            v[0] >>= 1
            if carry:
                v[0] ^= 0xE100
        for n in range(16):
            if n & (n - 1):  # not a single bit: the sum of its bits' multiples
                low = n & -n
                for i in range(8):
                    t[8 * n + i] = t[8 * low + i] ^ t[8 * (n ^ low) + i]

    # --- DLMS: one general-glo-ciphering APDU ---

    def decipher(self, decoder, buf, start, end):
        # dlms.Decoder's handling of a ciphered APDU in buf[start:end]: OK with the decoder's walker on
        # the plaintext, or the frame counted on the decoder and dropped (what Decoder.apdu returns)
        r = self.open(buf, start, end)
        wk = decoder._wk
        if r == OK and _one_notification(wk, buf, self.start, self.end):
            wk.reset(buf, self.start, self.end)
            return OK
        if r == OK or r == BAD_TAG:
            decoder.wrong_key = add(decoder.wrong_key, 1)
            return _UNKNOWN
        if r == MALFORMED:
            decoder.malformed = add(decoder.malformed, 1)
            return MALFORMED
        decoder.unknown = add(decoder.unknown, 1)  # a security suite or compression this module does not do
        decoder._remember_unknown(buf[start], decoder.reading)
        return _UNKNOWN

    def open(self, buf, start, end):
        # decrypt the APDU in buf[start:end] in place; returns OK (plaintext in buf[self.start:self.end]),
        # MALFORMED, UNSUPPORTED or BAD_TAG (only checked with the authentication key)
        if end - start < 16 or (buf[start] != _GLO and buf[start] != _DED) or buf[start + 1] != _TITLE:
            return MALFORMED
        p = start + 2 + _TITLE
        n = buf[p]  # A-XDR length of security control, frame counter, ciphertext and tag
        p += 1
        if n == 0x81:
            n = buf[p]
            p += 1
        elif n == 0x82:
            n = buf[p] << 8 | buf[p + 1]
            p += 2
        elif n > 0x80:
            return MALFORMED
        if n < 5 or p + n > end:
            return MALFORMED
        sc = buf[p]
        if sc & _SC_OTHER:
            return UNSUPPORTED
        c0 = p + 5
        c1 = p + n - (_TAG if sc & _SC_AUTH else 0)
        if c1 < c0:
            return MALFORMED
        cb = self._cb
        for i in range(_TITLE):  # IV = system title || frame counter
            cb[i] = buf[start + 2 + i]
        for i in range(4):
            cb[_TITLE + i] = buf[p + 1 + i]
        self._begin()
        check = self.checks_tags and sc & _SC_AUTH
        if check:
            self._aad[0] = sc
            self._absorb(self._aad, 0, 17)
            if not sc & _SC_ENC:  # authenticated only: the plain information is hashed as AAD
                self._absorb(buf, c0, c1)
            self._alen = 17 + (0 if sc & _SC_ENC else c1 - c0)
            self._pad()
        if sc & _SC_ENC:
            self._crypt(buf, c0, c1, check, True)
        if check and not self.tag_matches(buf, c1, _TAG):
            return BAD_TAG
        self.start = c0
        self.end = c1
        return OK

    # --- GCM itself (the spec's test vectors use these) ---

    def begin(self, iv, at=0):
        # start a message with the 96-bit IV iv[at:at+12]
        cb = self._cb
        for i in range(12):
            cb[i] = iv[at + i]
        self._begin()

    def _begin(self):
        cb = self._cb
        cb[12] = cb[13] = cb[14] = 0
        cb[15] = 1
        self._aes.encrypt(cb, self._ej0)  # J0 = IV || 1
        cb[15] = 2  # the first block of text uses inc32(J0)
        x = self._x
        for i in range(8):
            x[i] = 0
        self._fill = 0
        self._alen = 0
        self._clen = 0

    def aad(self, buf, start, end):
        # the additional authenticated data, all of it in one call, before any text
        self._absorb(buf, start, end)
        self._alen = end - start
        self._pad()

    def decrypt(self, buf, start, end):
        # ciphertext buf[start:end] -> plaintext in place; may be called again for more text if
        # every call but the last covers whole 16-byte blocks
        self._crypt(buf, start, end, True, True)

    def encrypt(self, buf, start, end):
        self._crypt(buf, start, end, True, False)

    def _crypt(self, buf, start, end, hashing, decrypting):
        cb = self._cb
        ks = self._ks
        p = start
        while p < end:
            q = p + 16 if end - p > 16 else end
            if hashing and decrypting:  # GHASH runs over the ciphertext
                self._absorb(buf, p, q)
            self._aes.encrypt(cb, ks)
            for i in range(q - p):
                buf[p + i] ^= ks[i]
            if hashing and not decrypting:
                self._absorb(buf, p, q)
            i = 15  # inc32: the last four bytes count blocks
            while i >= 12:
                cb[i] = (cb[i] + 1) & 0xFF
                if cb[i]:
                    break
                i -= 1
            p = q
        self._clen += end - start

    def tag(self, out):
        # the full 16-byte tag of the message so far, into out[0:16]
        self._pad()
        x = self._x
        a = self._alen << 3  # lengths in bits, each a 64-bit big-endian field; messages here are short
        c = self._clen << 3
        x[2] ^= a >> 16
        x[3] ^= a & 0xFFFF
        x[6] ^= c >> 16
        x[7] ^= c & 0xFFFF
        self._mul()
        e = self._ej0
        for i in range(8):
            out[2 * i] = x[i] >> 8 ^ e[2 * i]
            out[2 * i + 1] = x[i] & 0xFF ^ e[2 * i + 1]

    def tag_matches(self, buf, at, n):
        # whether buf[at:at+n] is the message's tag (DLMS sends its first 12 bytes)
        ks = self._ks
        self.tag(ks)
        bad = 0
        for i in range(n):
            bad |= ks[i] ^ buf[at + i]
        return bad == 0

    def _absorb(self, buf, start, end):
        # GHASH: bytes into the current block; each full block becomes X = (X ^ block) * H
        x = self._x
        f = self._fill
        for i in range(start, end):
            if f & 1:
                x[f >> 1] ^= buf[i]
            else:
                x[f >> 1] ^= buf[i] << 8
            f += 1
            if f == 16:
                self._mul()
                f = 0
        self._fill = f

    def _pad(self):
        # a partial block is hashed as if zeros filled it
        if self._fill:
            self._mul()
            self._fill = 0

    def _mul(self):
        # X = X * H in GF(2^128), 4 bits at a time (the table method of the GCM specification):
        # from X's last nibble (its highest powers of x) to its first, Z = Z * x^4 + nibble * H
        x = self._x
        t = self._table
        r = _REDUCE
        z0 = z1 = z2 = z3 = z4 = z5 = z6 = z7 = 0
        for k in range(7, -1, -1):
            w = x[k]
            for _ in range(4):
                n = (w & 15) << 3
                w >>= 4
                c = z7 & 15
                z7 = z7 >> 4 ^ (z6 & 15) << 12 ^ t[n + 7]
                z6 = z6 >> 4 ^ (z5 & 15) << 12 ^ t[n + 6]
                z5 = z5 >> 4 ^ (z4 & 15) << 12 ^ t[n + 5]
                z4 = z4 >> 4 ^ (z3 & 15) << 12 ^ t[n + 4]
                z3 = z3 >> 4 ^ (z2 & 15) << 12 ^ t[n + 3]
                z2 = z2 >> 4 ^ (z1 & 15) << 12 ^ t[n + 2]
                z1 = z1 >> 4 ^ (z0 & 15) << 12 ^ t[n + 1]
                z0 = z0 >> 4 ^ r[c] ^ t[n]
        x[0] = z0
        x[1] = z1
        x[2] = z2
        x[3] = z3
        x[4] = z4
        x[5] = z5
        x[6] = z6
        x[7] = z7
