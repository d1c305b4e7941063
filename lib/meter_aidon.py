# meter_aidon.py Provides decode() for Aidon and Landis+Gyr bodies: an array of (OBIS, value, scaler-unit) structures.
# MIT license

from axdr import OK, MALFORMED, STRUCTURE
from obis import CODES, NUMERIC


def decode(wk, rd, n):
    # n structures, each 02 02 {OBIS, value} or 02 03 {OBIS, value, 02 02 {0F scaler, 16 unit}}
    for _ in range(n):
        m = wk.count(STRUCTURE)
        key = wk.obis()
        if m < 2 or key < 0:
            return MALFORMED
        f = CODES.get(key, -1)
        if not wk.store(rd, f, 0):
            return MALFORMED
        for i in range(m - 2):
            if i == 0 and 0 <= f < NUMERIC and scaler_unit(wk, rd, f):
                continue
            if not wk.skip():
                return MALFORMED
    return OK


def scaler_unit(wk, rd, f):
    # 02 02 0F <scaler i8> 16 <unit>: the value is raw * 10**scaler; False leaves pos unchanged
    p = wk.pos
    b = wk.buf
    if p + 6 > wk.end or b[p] != STRUCTURE or b[p + 1] != 2 or b[p + 2] != 0x0F or b[p + 4] != 0x16:
        return False
    s = b[p + 3]
    rd.exp[f] = s - 256 if s & 0x80 else s
    wk.pos = p + 6
    return True
