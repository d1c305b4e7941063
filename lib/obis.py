# obis.py Provides the one table from OBIS C.D.E to a stable field name, with each field's kind.
# MIT license

from micropython import const

# Field kinds: they pick the maker scaling for frames that carry no scaler, and the output unit.
KIND_POWER = const(0)  # W or var
KIND_CURRENT = const(1)  # A
KIND_VOLTAGE = const(2)  # V
KIND_ENERGY = const(3)  # decoded in Wh/varh, published in kWh/kvarh
KIND_PF = const(4)  # power factor, 0..1
KIND_TEXT = const(5)  # visible or octet string
KIND_CLOCK = const(6)  # 12-byte COSEM date-time

# [C, D, E, field name, kind, unit]. Value group A and B are ignored: Kamstrup sends B=1, the others B=0.
# The order is the order of the output; numeric fields come first so their index is the array slot.
# Rows are lists, made by the import's code and gone after it: tuples of constants would be constants
# of the module, kept in RAM for as long as field() is.
NAMES = []  # field index -> name
KINDS = bytearray()  # field index -> kind
UNITS = []  # field index -> output unit
CODES = {}  # C<<16 | D<<8 | E -> field index

for _c, _d, _e, _name, _kind, _unit in (
    [1, 7, 0, "active_power_import", KIND_POWER, "W"],
    [2, 7, 0, "active_power_export", KIND_POWER, "W"],
    [3, 7, 0, "reactive_power_import", KIND_POWER, "var"],
    [4, 7, 0, "reactive_power_export", KIND_POWER, "var"],
    [21, 7, 0, "active_power_import_l1", KIND_POWER, "W"],
    [41, 7, 0, "active_power_import_l2", KIND_POWER, "W"],
    [61, 7, 0, "active_power_import_l3", KIND_POWER, "W"],
    [22, 7, 0, "active_power_export_l1", KIND_POWER, "W"],
    [42, 7, 0, "active_power_export_l2", KIND_POWER, "W"],
    [62, 7, 0, "active_power_export_l3", KIND_POWER, "W"],
    [23, 7, 0, "reactive_power_import_l1", KIND_POWER, "var"],
    [43, 7, 0, "reactive_power_import_l2", KIND_POWER, "var"],
    [63, 7, 0, "reactive_power_import_l3", KIND_POWER, "var"],
    [24, 7, 0, "reactive_power_export_l1", KIND_POWER, "var"],
    [44, 7, 0, "reactive_power_export_l2", KIND_POWER, "var"],
    [64, 7, 0, "reactive_power_export_l3", KIND_POWER, "var"],
    [31, 7, 0, "current_l1", KIND_CURRENT, "A"],
    [51, 7, 0, "current_l2", KIND_CURRENT, "A"],
    [71, 7, 0, "current_l3", KIND_CURRENT, "A"],
    [32, 7, 0, "voltage_l1", KIND_VOLTAGE, "V"],
    [52, 7, 0, "voltage_l2", KIND_VOLTAGE, "V"],
    [72, 7, 0, "voltage_l3", KIND_VOLTAGE, "V"],
    [13, 7, 0, "power_factor", KIND_PF, ""],
    [33, 7, 0, "power_factor_l1", KIND_PF, ""],
    [53, 7, 0, "power_factor_l2", KIND_PF, ""],
    [73, 7, 0, "power_factor_l3", KIND_PF, ""],
    [1, 8, 0, "active_energy_import", KIND_ENERGY, "kWh"],
    [2, 8, 0, "active_energy_export", KIND_ENERGY, "kWh"],
    [3, 8, 0, "reactive_energy_import", KIND_ENERGY, "kvarh"],
    [4, 8, 0, "reactive_energy_export", KIND_ENERGY, "kvarh"],
    [1, 8, 1, "active_energy_import_t1", KIND_ENERGY, "kWh"],  # tariff registers: DSMR P1 (NL, BE)
    [1, 8, 2, "active_energy_import_t2", KIND_ENERGY, "kWh"],
    [2, 8, 1, "active_energy_export_t1", KIND_ENERGY, "kWh"],
    [2, 8, 2, "active_energy_export_t2", KIND_ENERGY, "kWh"],
    [1, 6, 0, "active_power_import_month_peak", KIND_POWER, "W"],  # Belgian P1 (e-MUCS): the month's highest 15-min demand
    [0, 2, 129, "list_ver_id", KIND_TEXT, ""],
    [96, 1, 0, "meter_id", KIND_TEXT, ""],
    [0, 0, 5, "meter_id", KIND_TEXT, ""],  # Kamstrup 1.1.0.0.5
    [96, 1, 7, "meter_type", KIND_TEXT, ""],
    [96, 1, 1, "meter_type", KIND_TEXT, ""],  # Kamstrup 1.1.96.1.1
    [1, 0, 0, "meter_datetime", KIND_CLOCK, ""],
):
    if _name not in NAMES:
        NAMES.append(_name)
        KINDS.append(_kind)
        UNITS.append(_unit)
    CODES[_c << 16 | _d << 8 | _e] = NAMES.index(_name)

del _c, _d, _e, _name, _kind, _unit
NUMERIC = sum(1 for _k in KINDS if _k < KIND_TEXT)  # numeric fields are 0 .. NUMERIC-1
FIELDS = len(NAMES)


def field(name):
    return NAMES.index(name)
