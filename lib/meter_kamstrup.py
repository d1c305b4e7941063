# meter_kamstrup.py Provides decode() for Kamstrup bodies: the list id, then OBIS code / value pairs.
# MIT license

from axdr import MALFORMED
from obis import field

# Kamstrup frames carry no scalers: exponent by field kind (power, current, voltage, energy, pf, text, clock).
# HAN-NVE energy registers count 10 Wh; Swedish meters send the same list id with Wh.
_EXP_NVE = (0, -2, 0, 1, -2, 0, 0)
_EXP_WH = (0, -2, 0, 0, -2, 0, 0)
_VOLTAGES = tuple(field("voltage_l%d" % i) for i in (1, 2, 3))
_VER = field("list_ver_id")


def decode(wk, rd, n, energy_in_wh=False):
    rd.manufacturer = "Kamstrup"
    if n < 1 or not wk.store(rd, _VER, 0):  # the dispatcher saw a visible-string here
        return MALFORMED
    status = wk.pairs(rd, n - 1, _EXP_WH if energy_in_wh else _EXP_NVE)
    for f in _VOLTAGES:
        # Danish and Swedish firmware sends centivolts under the same list id: no mains voltage is over 1000 V
        if rd.present[f] and rd.hi[f] == 0 and rd.lo[f] > 1000:
            rd.exp[f] = -2
    return status
