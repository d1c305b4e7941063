# test_reading.py Checks how a Reading turns scaled integers and meter strings into JSON.
# Shared: runs under pytest and under the MicroPython unix port (mpy_runner.py).

import json
from reading import Reading
from obis import field


def _number(hi, lo, exp, name="current_l1"):
    rd = Reading()
    rd.set_number(field(name), hi, lo, exp)
    return rd.decimal(field(name))


def test_decimals_are_exact_for_any_exponent():
    assert _number(0, 93, -1) == "9.3"
    assert _number(0, 5, -3) == "0.005"
    assert _number(0, 0, -2) == "0.00"
    assert _number(0, 250, 1, "active_power_import") == "2500"
    hi, lo = divmod(10955225, 65536)
    assert _number(hi, lo, 1, "active_energy_import") == "109552.25"  # 10955225 * 10 Wh, in kWh
    hi, lo = divmod(1805683, 65536)
    assert _number(hi, lo, 0, "active_energy_import") == "1805.683"


def test_negative_values_keep_their_sign():
    assert _number(-1, 0xFFFB, -1) == "-0.5"  # i16 -5, scaler -1
    assert _number(-1, 0xFF9C, 0, "active_power_import") == "-100"
    assert _number(-1, 0xFFFF, -3) == "-0.001"


def test_meter_strings_are_trimmed_and_escaped():
    rd = Reading()
    rd.set_text(field("meter_id"), b"12345678\x00\x00\x00\x00", 0, 12)  # L+G pads with NULs
    rd.set_text(field("meter_type"), b'A"B\\C\x01', 0, 6)
    out = json.loads(rd.json())
    assert out["meter_id"] == "12345678"
    assert out["meter_type"] == 'A"B\\C?'


def test_a_cleared_reading_holds_nothing():
    rd = Reading()
    rd.set_number(field("voltage_l1"), 0, 2300, -1)
    rd.clear()
    assert json.loads(rd.json()) == {"list": 2}
