# meter_kaifa.py Provides decode() for Kaifa bodies: positional values known by their count, or the Swedish OBIS pairs.
# MIT license

from axdr import OK, UNKNOWN, MALFORMED, OCTET_STRING
from obis import KINDS, field

# Kaifa frames carry no scalers: exponent by field kind (power, current, voltage, energy, pf, text, clock)
_EXP = (0, -3, -1, 0, -3, 0, 0)

_VER = field("list_ver_id")
_ID = field("meter_id")
_TYPE = field("meter_type")
_CLOCK = field("meter_datetime")
_P = tuple(field(n) for n in ("active_power_import", "active_power_export", "reactive_power_import", "reactive_power_export"))
_I = tuple(field("current_l%d" % i) for i in (1, 2, 3))
_U = tuple(field("voltage_l%d" % i) for i in (1, 2, 3))
_E = tuple(field(n) for n in ("active_energy_import", "active_energy_export", "reactive_energy_import", "reactive_energy_export"))

_LIST2_1P = (_VER, _ID, _TYPE) + _P + (_I[0], _U[0])
_LIST2_3P = (_VER, _ID, _TYPE) + _P + _I + _U

# element count -> field of each position (KFM_001 sheet)
_LAYOUTS = {
    1: (_P[0],),
    9: _LIST2_1P,
    13: _LIST2_3P,
    14: _LIST2_1P + (_CLOCK,) + _E,
    18: _LIST2_3P + (_CLOCK,) + _E,
}


def decode(wk, rd, n):
    # Only the count tells the lists apart, so other makers' positional lists with the same
    # count are told apart by the list id in front: it must start with KFM.
    rd.manufacturer = "Kaifa"
    order = _LAYOUTS.get(n)
    if order is None:
        if wk.pos < wk.end and wk.buf[wk.pos] == OCTET_STRING:
            wk.store(rd, _VER, 0)  # reported with the unknown layout
        return UNKNOWN
    for f in order:
        if not wk.store(rd, f, _EXP[KINDS[f]]):
            return MALFORMED
        if f == _VER and not _is_kfm(rd):
            return UNKNOWN
    return OK


def _is_kfm(rd):
    t = rd.text[_VER]
    return rd.text_len[_VER] >= 3 and t[0] == 0x4B and t[1] == 0x46 and t[2] == 0x4D  # "KFM"


def decode_pairs(wk, rd, n):
    # Swedish variant: a structure of OBIS code / value pairs, same units as the positional lists
    rd.manufacturer = "Kaifa"
    return wk.pairs(rd, n, _EXP)
