# meter_positional.py Provides decode() for OBIS-less positional lists from abroad: Landis+Gyr E450 (Austria), Iskraemeco AM550 (Austria, Slovenia).
# MIT license
#
# These bodies are a structure of bare values: no OBIS code, no scaler, no list id that names the
# list. Each list is known by its element count and the type of every element, which no Norwegian
# layout shares; the meaning of each position comes from the grid companies' descriptions
# (../shared/docs/protocol.md §5.4, §6.3 and the corpus notes).

from micropython import const
from axdr import OK, MALFORMED, UNKNOWN
from obis import field

_OCTETS = const(0x09)
_U32 = const(0x06)
_U16 = const(0x12)
_U8 = const(0x11)
_ENUM = const(0x16)


def _layout(maker, items):
    # items: (A-XDR tag, field name or None, exponent) per position, in order
    tags = bytes(t for t, _, _ in items)
    fields = tuple(-1 if name is None else field(name) for _, name, _ in items)
    exps = tuple(e for _, _, e in items)
    return maker, tags, fields, exps


# Energies are Wh, powers W or var; voltages and currents as the exponent says.
_LAYOUTS = (
    # L+G E450, Netz Burgenland: U (whole V), I (0.01 A), P+, P-, A+, A-, three unexplained, meter number
    _layout("Landis+Gyr", (
        (_U16, "voltage_l1", 0), (_U16, "voltage_l2", 0), (_U16, "voltage_l3", 0),
        (_U16, "current_l1", -2), (_U16, "current_l2", -2), (_U16, "current_l3", -2),
        (_U32, "active_power_import", 0), (_U32, "active_power_export", 0),
        (_U32, "active_energy_import", 0), (_U32, "active_energy_export", 0),
        (_U16, None, 0), (_U16, None, 0), (_U16, None, 0), (_OCTETS, "meter_id", 0))),
    # Iskraemeco AM550, Kaernten Netz: push-setup name 0-6:25.9.0, meter number, time, date,
    # 1.8.0, 2.8.0, 3.8.0, 4.8.0, 1.7.0, 2.7.0, two empty strings
    _layout("Iskraemeco", (
        (_OCTETS, None, 0), (_OCTETS, "meter_id", 0), (_OCTETS, None, 0), (_OCTETS, None, 0),
        (_U32, "active_energy_import", 0), (_U32, "active_energy_export", 0),
        (_U32, "reactive_energy_import", 0), (_U32, "reactive_energy_export", 0),
        (_U32, "active_power_import", 0), (_U32, "active_power_export", 0),
        (_OCTETS, None, 0), (_OCTETS, None, 0))),
    # Iskraemeco AM550, Slovenia, every few seconds: logical device name 42.0.0 (the meter's own
    # id: 96.1.2 after it is the same on different meters), 96.1.2, P+, P-, Q+, Q-, U1-3 (0.1 V),
    # I1-3 (0.01 A), P+ L1-3, P- L1-3
    _layout("Iskraemeco", (
        (_OCTETS, "meter_id", 0), (_OCTETS, None, 0),
        (_U32, "active_power_import", 0), (_U32, "active_power_export", 0),
        (_U32, "reactive_power_import", 0), (_U32, "reactive_power_export", 0),
        (_U16, "voltage_l1", -1), (_U16, "voltage_l2", -1), (_U16, "voltage_l3", -1),
        (_U16, "current_l1", -2), (_U16, "current_l2", -2), (_U16, "current_l3", -2),
        (_U32, "active_power_import_l1", 0), (_U32, "active_power_import_l2", 0),
        (_U32, "active_power_import_l3", 0), (_U32, "active_power_export_l1", 0),
        (_U32, "active_power_export_l2", 0), (_U32, "active_power_export_l3", 0))),
    # Iskraemeco AM550, Slovenia, every 15 minutes: 42.0.0, 96.1.3, disconnect state 96.3.10,
    # tariff 96.14.0, 1.8.0, 1.8.1, 1.8.2, 2.8.0, 2.8.1, 2.8.2, 3.8.0, 4.8.0
    _layout("Iskraemeco", (
        (_OCTETS, "meter_id", 0), (_OCTETS, None, 0), (_ENUM, None, 0), (_OCTETS, None, 0),
        (_U32, "active_energy_import", 0), (_U32, "active_energy_import_t1", 0),
        (_U32, "active_energy_import_t2", 0), (_U32, "active_energy_export", 0),
        (_U32, "active_energy_export_t1", 0), (_U32, "active_energy_export_t2", 0),
        (_U32, "reactive_energy_import", 0), (_U32, "reactive_energy_export", 0))),
    # Iskraemeco AM550 ED1.21, Slovenia: 42.0.0, 96.1.2, P+, P-, Q+, Q-, U1 (0.1 V), two unexplained
    _layout("Iskraemeco", (
        (_OCTETS, "meter_id", 0), (_OCTETS, None, 0),
        (_U32, "active_power_import", 0), (_U32, "active_power_export", 0),
        (_U32, "reactive_power_import", 0), (_U32, "reactive_power_export", 0),
        (_U16, "voltage_l1", -1), (_U32, None, 0), (_U32, None, 0))),
    # Iskraemeco AM550 ED1.21, Slovenia, every 15 minutes: the serial alone (not the 42.0.0 name
    # the other list gives as its id, so left out), a byte, the import register, one unexplained
    _layout("Iskraemeco", ((_OCTETS, None, 0), (_U8, None, 0), (_U32, "active_energy_import", 0), (_U32, None, 0))),
)


def decode(wk, rd, n):
    # OK or MALFORMED for a known list; UNKNOWN with the walker and rd untouched for any other
    for maker, tags, fields, exps in _LAYOUTS:
        if len(tags) == n and _shaped(wk, tags):
            rd.manufacturer = maker
            for i in range(n):
                if not wk.store(rd, fields[i], exps[i]):
                    return MALFORMED
            return OK
    return UNKNOWN


def _shaped(wk, tags):
    # whether the next len(tags) items have these tags, in this order; pos is left where it was
    p = wk.pos
    ok = True
    for t in tags:
        if wk.byte() != t or not wk.skip_content(t, 0):
            ok = False
            break
    wk.pos = p
    return ok
