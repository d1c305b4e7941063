# test_diagnosis.py Checks the plain-words diagnosis for each way a dongle can fail to read its meter.
# Shared: runs under pytest and under the MicroPython unix port (mpy_runner.py).

from diagnosis import diagnose

_FIXED = {"setting": "kamstrup", "framing": "2400 8N1", "settled": True}
_AUTO = {"setting": "auto", "framing": "2400 8E1", "settled": False}


def _code(uptime=100, bytes_in=0, ok=0, decoded=0, unknown=0, encrypted=0, unknown_list=None, age=None, serial=_FIXED):
    return diagnose(uptime, bytes_in, ok, decoded, unknown, encrypted, unknown_list, age, serial, 16)


def test_each_symptom_gets_its_diagnosis():
    assert _code(uptime=5)[0] == "waiting"
    code, message = _code()
    assert code == "no_bytes" and "grid company" in message and "RX pin 16" in message
    code, message = _code(bytes_in=500)
    assert code == "no_valid_frames" and "2400 8E1" in message and "meter.serial" in message
    code, message = _code(bytes_in=500, serial=_AUTO)
    assert code == "no_valid_frames" and "115200 8N1 (P1)" in message and "inverted as well" in message
    code, message = _code(bytes_in=500, serial={"setting": "p1", "framing": "115200 8N1 inverted", "settled": True})
    assert code == "no_valid_frames" and "Data Request" in message and "p1.invert_rx" in message
    code, message = _code(bytes_in=500, ok=3, unknown=3, unknown_list="ISK1020784605887")
    assert code == "unknown_layout" and "ISK1020784605887" in message and "tools/capture.py" in message
    assert _code(bytes_in=500, ok=3, encrypted=3)[0] == "encrypted"
    wrong = diagnose(100, 500, 3, 0, 0, 0, None, None, _FIXED, 16, 30, 3)
    assert wrong[0] == "wrong_key" and "meter.key" in wrong[1]
    code, message = _code(bytes_in=500, ok=3, decoded=3, age=2)
    assert code == "ok" and "3 messages" in message
    assert _code(bytes_in=500, ok=3, decoded=3, age=300)[0] == "stale"
