# meter_registers.py Provides decode() for Austrian and Polish bodies of OBIS registers with their scaler-unit: Kaifa MA309, Sagemcom T210-D.
# MIT license
#
# One structure holds, in any mix:
#   02 02 {09 06 OBIS, value} or 02 03 {09 06 OBIS, value, 02 02 {0F scaler, 16 unit}}  (Kaifa MA309, TINETZ, Poland)
#   09 06 OBIS, value [, 02 02 {0F scaler, 16 unit}] as loose elements                 (Sagemcom, Kaifa, Netz NOE)
#   bare values: the first is the clock, a later one the meter number                  (Netz NOE)
# The scaler is in the frame, as Aidon's (../shared/docs/protocol.md §6.3).

from micropython import const
from axdr import OK, MALFORMED, STRUCTURE, OCTET_STRING
from obis import CODES, NUMERIC, field
import meter_aidon

_CLOCK = field("meter_datetime")
_ID = field("meter_id")
_LOGICAL_NAME = const(0x2A0000)  # 0.0.42.0.0, COSEM logical device name: the FLAG id, then the serial
_FLAGS = ((b"KFM", "Kaifa"), (b"SAG", "Sagemcom"), (b"LGZ", "Landis+Gyr"), (b"ISK", "Iskraemeco"))


def fits(wk):
    # whether a body starting at pos is of this kind: a structure among its first four elements
    # (Kaifa's Swedish OBIS pairs and every positional list have none)
    p = wk.pos
    found = False
    for _ in range(4):
        if wk.pos < wk.end and wk.buf[wk.pos] == STRUCTURE:
            found = True
            break
        if not wk.skip():
            break
    wk.pos = p
    return found


def decode(wk, rd, n):
    i = 0
    while i < n:
        p = wk.pos
        if p >= wk.end:
            return MALFORMED
        if wk.buf[p] == STRUCTURE:
            _maker(wk, rd, p + 2)
            if meter_aidon.decode(wk, rd, 1) != OK:  # one {OBIS, value, scaler-unit} structure
                return MALFORMED
            i += 1
            continue
        key = wk.obis()
        if key >= 0:
            _maker(wk, rd, p)
            f = CODES.get(key, -1)
            if i + 1 >= n or not wk.store(rd, f, 0):
                return MALFORMED
            i += 2
            if i < n and 0 <= f < NUMERIC and meter_aidon.scaler_unit(wk, rd, f):
                i += 1
            continue
        if not wk.store(rd, _CLOCK if i == 0 else _ID, 0):
            return MALFORMED
        i += 1
    return OK


def _maker(wk, rd, p):
    # the maker from the logical device name's FLAG id, when the OBIS code at p is 0.0.42.0.0
    b = wk.buf
    if p + 13 > wk.end or b[p] != OCTET_STRING or b[p + 1] != 6:
        return
    if (b[p + 4] << 16 | b[p + 5] << 8 | b[p + 6]) != _LOGICAL_NAME or b[p + 8] != OCTET_STRING:
        return
    for flag, maker in _FLAGS:
        if b[p + 10] == flag[0] and b[p + 11] == flag[1] and b[p + 12] == flag[2]:
            rd.manufacturer = maker
            return
