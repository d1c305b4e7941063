# test_firmware_abroad.py Checks that the firmware, on "auto", finds a P1 or an M-Bus meter by itself and publishes its values.

import json
import random
from binascii import unhexlify

from corpus import good_p1, records
from dlms import Decoder
from harness import Firmware, Recorder, Replay, wait_until
from mbus import Assembler
from test_firmware_mqtt import _hanlog
from test_p1 import _expected

_TRY_MS = "3000"  # each line setting's try: 25 s on a dongle


def _replayed(tmp_path, frames):
    # a message every 0.3 s, its bytes at 2400 B/s (the replay's 240 B/s, ten times faster)
    capture = tmp_path / "capture.hanlog"
    _hanlog(capture, frames, 3)
    return Replay(capture, speed=10, loop=True)


def _numbers(message):
    # a published message's values that are numbers (/api/status carries the messages as published)
    return {k: v for k, v in message.items() if isinstance(v, (int, float))}


def _settled(fw, protocol):
    wait_until(lambda: fw.status()["serial"]["protocol"] == protocol and fw.status()["decoder"]["decoded"] > 1, 60,
               protocol + " frames decoded")
    return fw.status()


def test_auto_finds_a_p1_meter_at_115200_and_publishes_its_values(tmp_path, broker, monkeypatch):
    monkeypatch.setenv("HAN_SERIAL_TRY_MS", _TRY_MS)
    r = [r for r in good_p1() if r["id"] == "p1-amshan-lg-e360-a"][0]
    replay = _replayed(tmp_path, [r["bytes"]])
    fw = Firmware(tmp_path, {"mqtt": {"host": "127.0.0.1", "port": broker.port}, "meter": {"serial": "auto"}}, replay.port)
    try:
        s = _settled(fw, "p1")
        assert s["serial"]["framing"] == "115200 8N1" and s["serial"]["settled"]  # the host board's P1 is not inverted
        assert s["diagnosis"]["code"] == "ok" and s["frames"]["bad_fcs"] == 0 and s["frames"]["ok"] >= 2
        want = _expected()[r["id"]]
        got = _numbers(s["power_full"])
        assert got and all(got[k] == want[k] for k in got if k in want), (got, want)
        assert got["active_power_export"] == 20 and got["reactive_power_export"] == 308
        assert s["energy"]["active_energy_import"] == want["active_energy_import"]
        out = fw.output()
        assert "trying 2400 8N1" in out and "trying 115200 8N1" in out and "serial: P1 frames at 115200 8N1" in out
        with open(tmp_path / "serial.json") as f:
            assert json.load(f) == {"line": [115200, "8N1", False]}  # the next boot starts there
    finally:
        fw.kill()
        replay.stop()


def _mbus_values(r, key):
    # what the decoder makes of an M-Bus record, in process
    got = []
    d = Decoder(lambda rd: got.append(json.loads(rd.json())), key=key)
    Assembler(d.apdu).feed(bytearray(r["bytes"]), len(r["bytes"]))
    assert len(got) == 1
    return got[0]


def test_auto_finds_an_encrypted_austrian_m_bus_meter_at_2400_8e1(tmp_path, broker, monkeypatch):
    monkeypatch.setenv("HAN_SERIAL_TRY_MS", _TRY_MS)
    r = [r for r in records("encrypted") if r["id"] == "enc-kaifa-ams-gh905-1"][0]
    key = r["key"]["encryption_key"]
    want = _mbus_values(r, unhexlify(key))
    replay = _replayed(tmp_path, [r["bytes"]])
    raw = Recorder(broker.port, topics=("han/test/raw",))
    fw = Firmware(tmp_path, {"mqtt": {"host": "127.0.0.1", "port": broker.port, "raw": True},
                             "meter": {"serial": "auto", "key": key}}, replay.port)
    try:
        s = _settled(fw, "mbus")
        # mqtt.raw: once the kind is known, each message's last M-Bus frame, whole, as sent
        frames = wait_until(lambda: raw.on("han/test/raw"), 30, "raw frames")
        assert all(f.startswith("68") and f.endswith("16") and f in r["bytes"].hex() for f in frames), frames[:2]
        assert s["serial"]["framing"] == "2400 8E1" and s["serial"]["settled"]  # the first try: no need to move on
        assert s["diagnosis"]["code"] == "ok" and s["frames"]["bad_fcs"] == 0 and s["decoder"]["wrong_key"] == 0
        got = _numbers(s["power_full"] or s["power"])
        assert got and all(got[k] == want[k] for k in got if k in want), (got, want)
        assert "serial: M-Bus frames at 2400 8E1" in fw.output()
    finally:
        raw.close()
        fw.kill()
        replay.stop()


def test_the_p1_setting_with_no_telegram_passing_points_at_p1s_wiring(tmp_path):
    # meter.serial p1 and bytes that are no frame of any kind (as a meter at another speed gives): the
    # diagnosis names what a P1 port needs
    rnd = random.Random(7)
    replay = _replayed(tmp_path, [bytes(rnd.getrandbits(8) for _ in range(60)) for _ in range(10)])
    fw = Firmware(tmp_path, {"mqtt": {"host": "127.0.0.1", "port": 1}, "meter": {"serial": "p1"}}, replay.port, grace_s=0)
    try:
        d = wait_until(lambda: fw.status()["diagnosis"]["code"] == "no_valid_frames" and fw.status(), 60, "no valid frames")
        assert "115200 8N1 (P1)" in d["diagnosis"]["message"] and "Data Request" in d["diagnosis"]["message"]
        assert d["serial"]["protocol"] == "p1" and d["frames"]["ok"] == 0  # set, not found
    finally:
        fw.kill()
        replay.stop()
