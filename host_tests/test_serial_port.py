# test_serial_port.py Checks the meter serial setting: fixed per maker, or "auto" trying 8E1 then 8N1 and remembering.
# Shared: runs under pytest and under the MicroPython unix port (mpy_runner.py).

import os
from serial_port import SerialChoice, FRAMING

_PATH = "/tmp/han-test-serial.json"


def _fresh():
    try:
        os.remove(_PATH)
    except OSError:
        pass


def test_each_maker_has_its_framing():
    assert FRAMING == {"aidon": "8E1", "kaifa": "8E1", "landisgyr": "8E1", "kamstrup": "8N1"}
    choice = SerialChoice("kamstrup", _PATH)
    assert choice.framing == "8N1" and choice.settled and choice.check(0) is None


def test_auto_moves_on_when_no_frame_passes_and_keeps_the_one_that_works():
    _fresh()
    choice = SerialChoice("auto", _PATH, try_ms=0)
    assert choice.framing == "8E1" and not choice.settled
    assert choice.check(0) == "8N1"  # nothing valid at 8E1: try 8N1
    assert choice.check(3) is None and choice.settled and choice.framing == "8N1"
    again = SerialChoice("auto", _PATH, try_ms=0)  # the next boot starts with what worked
    assert again.framing == "8N1"


def test_auto_waits_before_giving_up_on_a_setting():
    _fresh()
    choice = SerialChoice("auto", _PATH)  # 25 s per try: list 2 comes every 10 s
    assert choice.check(0) is None and choice.framing == "8E1"
