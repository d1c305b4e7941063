# aes128.py Provides aes(): AES-128 block encryption in plain Python, for gcm.py where cryptolib is missing.
# MIT license
#
# Devices keep cryptolib's AES (C); this module serves the ports built without it (the WebAssembly
# port of `make test`) and CPython. Only the encrypt direction: GCM's counter mode and its hash key
# need no other. Written from FIPS-197: byte-oriented state in bytearrays, so every value stays a
# small int on a 31-bit port and nothing is allocated per block once the key is expanded.

_ROUNDS = 10  # AES-128


def _make_tables():
    # S-box (FIPS-197 5.1.1: inverse in GF(2^8), then the affine map) and xtime (multiply by x)
    exp = bytearray(256)
    log = bytearray(256)
    a = 1
    for i in range(255):  # 3 generates the multiplicative group
        exp[i] = a
        log[a] = i
        a ^= (a << 1) ^ (0x11B if a & 0x80 else 0)
    sbox = bytearray(256)
    for x in range(256):
        b = exp[(255 - log[x]) % 255] if x else 0
        s = b
        for _ in range(4):
            b = ((b << 1) | (b >> 7)) & 0xFF
            s ^= b
        sbox[x] = s ^ 0x63
    xtime = bytearray(((x << 1) ^ (0x11B if x & 0x80 else 0)) for x in range(256))
    return sbox, xtime


_SBOX, _XTIME = _make_tables()
del _make_tables  # needed once: its code goes


class aes:
    # the part of cryptolib.aes that gcm.py uses: aes(key, 1) (ECB), then encrypt(src, dst) per block
    def __init__(self, key, mode=1):
        if mode != 1 or len(key) != 16:
            raise ValueError("aes128: ECB mode and a 16-byte key only")
        rk = bytearray(16 * (_ROUNDS + 1))  # the key schedule (FIPS-197 5.2), as bytes
        for i in range(16):
            rk[i] = key[i]
        rcon = 1
        for i in range(16, len(rk), 4):
            t0, t1, t2, t3 = rk[i - 4], rk[i - 3], rk[i - 2], rk[i - 1]
            if i % 16 == 0:  # RotWord, SubWord, Rcon
                t0, t1, t2, t3 = _SBOX[t1] ^ rcon, _SBOX[t2], _SBOX[t3], _SBOX[t0]
                rcon = _XTIME[rcon]
            rk[i] = rk[i - 16] ^ t0
            rk[i + 1] = rk[i - 15] ^ t1
            rk[i + 2] = rk[i - 14] ^ t2
            rk[i + 3] = rk[i - 13] ^ t3
        self._rk = rk
        self._s = bytearray(16)  # the state between rounds, column-major as in FIPS-197
        self._t = bytearray(16)

    def encrypt(self, src, dst):
        # dst[0:16] = AES-128(key, src[0:16]); dst may be src
        rk = self._rk
        sb = _SBOX
        xt = _XTIME
        s = self._s
        t = self._t
        for i in range(16):
            s[i] = src[i] ^ rk[i]
        for r in range(1, _ROUNDS + 1):
            k = 16 * r
            for c in range(4):
                # SubBytes and ShiftRows: row j of column c comes from column c + j
                a0 = sb[s[4 * c]]
                a1 = sb[s[1 + 4 * ((c + 1) & 3)]]
                a2 = sb[s[2 + 4 * ((c + 2) & 3)]]
                a3 = sb[s[3 + 4 * ((c + 3) & 3)]]
                o = 4 * c
                if r == _ROUNDS:  # the last round has no MixColumns
                    t[o] = a0 ^ rk[k + o]
                    t[o + 1] = a1 ^ rk[k + o + 1]
                    t[o + 2] = a2 ^ rk[k + o + 2]
                    t[o + 3] = a3 ^ rk[k + o + 3]
                else:  # MixColumns as a_j ^ all ^ 2 * (a_j ^ a_j+1), then AddRoundKey
                    e = a0 ^ a1 ^ a2 ^ a3
                    t[o] = a0 ^ e ^ xt[a0 ^ a1] ^ rk[k + o]
                    t[o + 1] = a1 ^ e ^ xt[a1 ^ a2] ^ rk[k + o + 1]
                    t[o + 2] = a2 ^ e ^ xt[a2 ^ a3] ^ rk[k + o + 2]
                    t[o + 3] = a3 ^ e ^ xt[a3 ^ a0] ^ rk[k + o + 3]
            s, t = t, s
        for i in range(16):
            dst[i] = s[i]
