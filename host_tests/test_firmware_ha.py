# test_firmware_ha.py Checks the firmware's Home Assistant side on the unix port against a real mosquitto: the dongle's device and diagnostics, and a replaced meter's removal.

import json

from corpus import records
from ha_abbrev import expand
from harness import KAIFA_LIST1, KAIFA_LIST2, KAIFA_LIST3, Firmware, Recorder, Replay, _kaifa_frame, wait_until

PREFIX = "han/test"
METER_A = "6970631402614476"  # the meter of the Kaifa list 2 and 3 fixtures
METER_B = "7359992890941742"
METER_C = "1234567890123456"


def _as_meter(frame_record, meter_id):
    # a Kaifa frame whose meter id (an octet string in the APDU) names another meter; HCS and FCS made anew
    apdu = frame_record["bytes"]
    at = apdu.find(METER_A.encode())
    assert at > 0
    return _kaifa_frame({"framing": "llc", "bytes": apdu[:at] + meter_id.encode() + apdu[at + 16 :]})


def _meter_frames(meter_id, list2_count=3):
    # list 1, then a few list 2 and the hourly list 3 of one meter
    by_id = {r["id"]: r for r in records("kaifa")}
    frames = [_kaifa_frame(by_id[KAIFA_LIST1[0]])]
    frames += [_as_meter(by_id[KAIFA_LIST2], meter_id)] * list2_count
    frames.append(_as_meter(by_id[KAIFA_LIST3], meter_id))
    return frames


def _hanlog(path, frames, step=1.0):
    with open(path, "w") as f:
        for i, frame in enumerate(frames):
            f.write("%.3f %s\n" % (i * step, frame.hex()))


def _retained_configs(port, node, settle_topic):
    # the configs the broker keeps for a device, as a Home Assistant starting now would get them
    rec = Recorder(port, topics=("homeassistant/#",))
    try:
        wait_until(lambda: rec.on(settle_topic), 10, "the retained configs")
        return {t.split("/")[3]: expand(json.loads(p)) for t, p, r in rec.messages if r and t.startswith("homeassistant/sensor/%s/" % node) and p}
    finally:
        rec.close()


def test_the_dongle_is_announced_as_its_own_device_and_its_diagnostics_are_retained(tmp_path, broker):
    capture = tmp_path / "a.hanlog"
    _hanlog(capture, _meter_frames(METER_A))
    replay = Replay(capture, speed=5)
    fw = Firmware(tmp_path, {"mqtt": {"host": "127.0.0.1", "port": broker.port}, "meter": {"serial": "kaifa"}}, replay.port, diag_s=3600)
    try:
        wait_until(replay.done, 60, "the end of the replay")
        wait_until(lambda: fw.status()["decoder"]["decoded"] == 5, 30, "all frames decoded")
        dongle = _retained_configs(broker.port, "han_dongle_test", "homeassistant/sensor/han_dongle_test/last_error/config")
        assert sorted(dongle) == sorted(["rssi", "uptime", "version", "ip", "frames_decoded", "checksum_errors", "heap_free", "last_error"])
        for key, c in dongle.items():
            assert c["entity_category"] == "diagnostic" and c["state_topic"] == PREFIX + "/diag"
            assert c["unique_id"] == "han_dongle_test_" + key and c["default_entity_id"] == "sensor.han_dongle_test_" + key
            assert c["device"]["identifiers"] == ["han_dongle_test"] and c["device"]["model"] == "host"
            assert c["availability_topic"] == PREFIX + "/status"
        meter = _retained_configs(broker.port, "han_" + METER_A, "homeassistant/sensor/han_%s/active_power_net/config" % METER_A)
        assert {c["device"]["via_device"] for c in meter.values()} == {"han_dongle_test"}
        # diag: sent on connect (diag_s is an hour here) and retained, so Home Assistant has it at once
        rec = Recorder(broker.port, topics=(PREFIX + "/diag",))
        wait_until(lambda: rec.on(PREFIX + "/diag"), 10, "the retained diag")
        diag = json.loads(rec.on(PREFIX + "/diag")[0])
        rec.close()
        assert diag["version"] and diag["device_id"] == "test" and diag["last_error"] is None
        assert {"rssi", "uptime_s", "ip", "heap_free"} <= set(diag) and "decoded" in diag["decoder"] and "bad_fcs" in diag["frames"]
        # the power messages carry the signed grid power the net sensor reads
        status = fw.status()
        assert status["power"]["list"] == 3 and status["power"]["active_power_net"] == status["net_power"]
        assert status["energy"]["meter_id"] == METER_A
    finally:
        fw.kill()
        replay.stop()


def test_a_replaced_meter_is_removed_from_home_assistant_also_across_a_restart(tmp_path, broker):
    cfg = {"mqtt": {"host": "127.0.0.1", "port": broker.port}, "meter": {"serial": "kaifa"}}
    capture = tmp_path / "ab.hanlog"
    _hanlog(capture, _meter_frames(METER_A) + _meter_frames(METER_B))  # the grid company swaps the meter
    replay = Replay(capture, speed=5)
    fw = Firmware(tmp_path, cfg, replay.port)
    try:
        wait_until(replay.done, 60, "the end of the replay")
        wait_until(lambda: fw.status()["decoder"]["decoded"] == 10, 30, "all frames decoded")
        wait_until(lambda: "meter %s replaced by %s" % (METER_A, METER_B) in fw.output(), 10, "the old meter removed")
    finally:
        fw.kill()
        replay.stop()
    b = _retained_configs(broker.port, "han_" + METER_B, "homeassistant/sensor/han_%s/active_energy_import/config" % METER_B)
    assert _retained_configs(broker.port, "han_" + METER_A, "homeassistant/sensor/han_%s/active_energy_import/config" % METER_B) == {}
    # the new meter's energy sensors are new entities, and take values of the new meter only
    assert b["active_energy_import"]["unique_id"] == "han_%s_active_energy_import" % METER_B
    assert "'%s'" % METER_B in b["active_energy_import"]["value_template"]
    with open(tmp_path / "ha_meter.txt") as f:
        assert f.read() == METER_B

    # the dongle restarts (a bus-powered one does, when the meter is swapped): the file names the old meter
    capture = tmp_path / "c.hanlog"
    _hanlog(capture, _meter_frames(METER_C))
    replay = Replay(capture, speed=5)
    fw = Firmware(tmp_path, cfg, replay.port)
    try:
        wait_until(replay.done, 60, "the end of the replay")
        wait_until(lambda: "meter %s replaced by %s" % (METER_B, METER_C) in fw.output(), 30, "the old meter removed after a restart")
    finally:
        fw.kill()
        replay.stop()
    settle = "homeassistant/sensor/han_%s/active_energy_import/config" % METER_C
    assert _retained_configs(broker.port, "han_" + METER_B, settle) == {}
    assert "active_energy_import" in _retained_configs(broker.port, "han_" + METER_C, settle)


def test_the_grid_power_is_negative_while_exporting(tmp_path, broker):
    # a real Kamstrup list 2 of a house exporting 2585 W (and importing nothing)
    frame = [r for r in records("kamstrup") if r["id"] == "kamstrup-ams-gh216-1"][0]["bytes"]
    capture = tmp_path / "export.hanlog"
    _hanlog(capture, [frame] * 3)
    rec = Recorder(broker.port, topics=(PREFIX + "/power",))
    replay = Replay(capture, speed=5)
    fw = Firmware(tmp_path, {"mqtt": {"host": "127.0.0.1", "port": broker.port}, "meter": {"serial": "kamstrup"}}, replay.port)
    try:
        wait_until(lambda: rec.on(PREFIX + "/power"), 60, "a power message")
        power = json.loads(rec.on(PREFIX + "/power")[0])
        assert (power["active_power_import"], power["active_power_export"], power["active_power_net"]) == (0, 2585, -2585)
    finally:
        fw.kill()
        replay.stop()
        rec.close()
