# test_firmware_mqtt.py Checks the whole firmware on the unix port against a real mosquitto and a replayed meter.

import json
import os
import signal

import pytest

from corpus import Pipeline
from mqtt_pub import POWER_KEYS
from ha_discovery import ACCOUNTING
from ha_abbrev import expand
from harness import ESP32_LIKE_HEAP, ROOT, Firmware, Recorder, Replay, hourly_kaifa_frames, wait_until

KAIFA_REPLAY = os.path.join(ROOT, "tools", "replays", "kaifa.hanlog")
KAIFA_METER = "6970631402614476"  # the meter of the Kaifa replay's lists 2 and 3
PREFIX = "han/test"


def _hanlog(path, frames, step):
    with open(path, "w") as f:
        for i, frame in enumerate(frames):
            f.write("%.3f %s\n" % (i * step, frame.hex()))


def _replay_frames(path):
    frames = []
    with open(path) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                frames.append(bytes.fromhex(line.split()[1]))
    return frames


def _expected_messages(frames):
    # what the decoder makes of each replayed frame, as the power and energy topics carry it
    return [m for f in frames for m in Pipeline().feed(f).messages]


def _with_net_power(m):
    # the power message's signed grid power, as the firmware works it out: import minus export; on a
    # list 1 (import alone) the import while importing, and nothing when it says 0 W
    imp, exp = m.get("active_power_import"), m.get("active_power_export")
    if imp is not None and exp is not None:
        return dict(m, active_power_net=imp - exp)
    return dict(m, active_power_net=imp) if imp else m


def _without_received(text):
    m = json.loads(text)
    assert m.pop("received").endswith("Z")
    return m


def test_firmware_publishes_discovery_status_and_the_replayed_values(tmp_path, broker):
    rec = Recorder(broker.port)
    replay = Replay(KAIFA_REPLAY, speed=25)
    fw = Firmware(tmp_path, {"mqtt": {"host": "127.0.0.1", "port": broker.port}, "meter": {"serial": "kaifa"}}, replay.port)
    try:
        wait_until(lambda: rec.on(PREFIX + "/energy"), 60, "the hourly energy message")
        wait_until(replay.done, 60, "the end of the replay")
        wait_until(lambda: fw.status()["decoder"]["decoded"] == 75, 30, "all 75 frames decoded")
        expected = _expected_messages(_replay_frames(KAIFA_REPLAY))

        assert rec.on(PREFIX + "/status")[0] == "online"
        powers = [_without_received(p) for p in rec.on(PREFIX + "/power")]
        # the first frames may pass before the broker connection is up: what came is the tail, in order
        expected_powers = [_with_net_power({k: v for k, v in m.items() if k in POWER_KEYS}) for m in expected]
        assert len(powers) >= 70 and powers == expected_powers[len(expected) - len(powers) :]
        energy = _without_received(rec.on(PREFIX + "/energy")[0])
        list3 = [m for m in expected if m["list"] == 3][0]
        assert energy == {k: v for k, v in list3.items() if k in ("meter_datetime", "meter_id") or "energy" in k}
        assert energy["active_energy_import"] == 79591.144
        meter = json.loads(rec.on(PREFIX + "/meter")[-1])
        assert meter == {"meter_manufacturer": "Kaifa", "list_ver_id": "KFM_001", "meter_id": KAIFA_METER, "meter_type": "MA304H3E"}

        node = "han_" + KAIFA_METER
        sensors = {t.split("/")[3] for t in rec.topics_seen() if t.startswith("homeassistant/sensor/%s/" % node)}
        sent = {k for m in expected for k in m if k not in ("list", "meter_datetime", "meter_manufacturer", "list_ver_id", "meter_id", "meter_type")}
        accounting = {a[0] for a in ACCOUNTING}
        assert sensors == sent | {"active_power_net"} | accounting  # what the meter sends, the accounting, nothing else
        energy_cfg = expand(json.loads(rec.on("homeassistant/sensor/%s/active_energy_import/config" % node)[0]))
        assert energy_cfg["device_class"] == "energy" and energy_cfg["state_class"] == "total_increasing"
        assert energy_cfg["unit_of_measurement"] == "kWh" and energy_cfg["state_topic"] == PREFIX + "/energy"
        assert energy_cfg["unique_id"] == node + "_active_energy_import"
        assert energy_cfg["availability_topic"] == PREFIX + "/status"
        assert energy_cfg["device"]["identifiers"] == [node] and energy_cfg["device"]["model"] == "MA304H3E"
        assert energy_cfg["device"]["manufacturer"] == "Kaifa" and energy_cfg["origin"]["name"] == "han-dongle"
        current = expand(json.loads(rec.on("homeassistant/sensor/%s/current_l1/config" % node)[0]))
        assert (current["device_class"], current["state_class"], current["unit_of_measurement"]) == ("current", "measurement", "A")
        q = expand(json.loads(rec.on("homeassistant/sensor/%s/reactive_power_export/config" % node)[0]))
        assert (q["device_class"], q["unit_of_measurement"]) == ("reactive_power", "var")
        net = expand(json.loads(rec.on("homeassistant/sensor/%s/active_power_net/config" % node)[0]))
        assert net["device_class"] == "power" and net["state_topic"] == PREFIX + "/power"
        assert "active_power_net" in net["value_template"] and "this.state" not in net["value_template"]

        fw.kill()  # no goodbye: the broker must publish the last will
        wait_until(lambda: rec.on(PREFIX + "/status")[-1] == "offline", 30, "the last will")
    finally:
        fw.kill()
        replay.stop()
        rec.close()


def test_home_assistant_restart_gets_the_discovery_again(tmp_path, broker):
    replay = Replay(KAIFA_REPLAY, speed=10, loop=True)
    fw = Firmware(tmp_path, {"mqtt": {"host": "127.0.0.1", "port": broker.port}}, replay.port)
    try:
        node = "homeassistant/sensor/han_%s/voltage_l1/config" % KAIFA_METER
        first = Recorder(broker.port)
        wait_until(lambda: first.on(node), 60, "discovery")
        first.close()
        rec = Recorder(broker.port, topics=(node,))
        rec.client.publish("homeassistant/status", "online")
        wait_until(lambda: rec.on(node, live_only=True), 30, "discovery sent again, not just kept by the broker")
        rec.close()
    finally:
        fw.kill()
        replay.stop()


def test_broker_outage_loses_no_energy_message_and_no_frame(tmp_path, broker):
    frames = hourly_kaifa_frames(14)
    capture = tmp_path / "hourly.hanlog"
    _hanlog(capture, frames, 1.0)
    rec = Recorder(broker.port, topics=(PREFIX + "/energy",))
    replay = Replay(capture, speed=1)
    fw = Firmware(tmp_path, {"mqtt": {"host": "127.0.0.1", "port": broker.port}}, replay.port)
    try:
        wait_until(lambda: len(rec.on(PREFIX + "/energy", live_only=True)) >= 2, 60, "energy before the outage")
        rec.close()
        broker.stop()
        wait_until(lambda: fw.status()["mqtt"]["energy_queued"] >= 3, 60, "energy messages queued in the outage")
        broker.start()
        rec = Recorder(broker.port, topics=(PREFIX + "/energy",))  # subscribed before the firmware's next try
        wait_until(replay.done, 60, "the end of the replay")
        wait_until(lambda: fw.status()["mqtt"]["energy_queued"] == 0 and fw.status()["mqtt"]["state"] == "connected", 60, "the queue to drain")
        got = [json.loads(p)["meter_datetime"] for p in rec.on(PREFIX + "/energy", live_only=True)]
        want = [m["meter_datetime"] for m in _expected_messages(frames)]
        # what the second recorder saw is the tail of the hours, in order, each once
        assert len(got) >= 3 and got == want[len(want) - len(got) :]
        status = fw.status()
        assert status["frames"]["ok"] == 14 and status["frames"]["bad_fcs"] == 0 and status["uart"]["overflow"] == 0
        assert status["decoder"]["decoded"] == 14
        assert "connection lost" in fw.output() and fw.output().count("mqtt: connected") >= 2
        rec.close()
    finally:
        fw.kill()
        replay.stop()


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"board": "host", "mqtt": {"port": 1883}}', "mqtt.host: missing"),
        ('{"board": "host", "mqtt": {"host": "127.0.0.1", "port": "1883"}}', "mqtt.port: must be a whole number"),
        ('{"board": "host", "mqtt": {"host": "127.0.0.1",}', "is not valid JSON"),
    ],
)
def test_a_bad_config_is_named_while_decoding_and_the_page_go_on(tmp_path, text, message):
    replay = Replay(KAIFA_REPLAY, speed=25)
    fw = Firmware(tmp_path, None, replay.port, config_text=text)
    try:
        assert message in fw.output()
        wait_until(lambda: fw.status()["decoder"]["decoded"] >= 5, 60, "frames decoded with a bad config")
        status = fw.status()
        assert any(message in e for e in status["config_errors"])
        assert fw.get("/")[0] == 200
        assert fw.proc.poll() is None
    finally:
        fw.kill()
        replay.stop()


def test_secrets_are_never_printed_or_served(tmp_path, broker):
    replay = Replay(KAIFA_REPLAY, speed=25)
    cfg = {"mqtt": {"host": "127.0.0.1", "port": broker.port, "password": "hunter2-mqtt"},
           "wifi": {"ssid": "home", "password": "hunter2-wifi", "reset_after_s": "soon"}}
    rec = Recorder(broker.port)
    fw = Firmware(tmp_path, cfg, replay.port)
    try:
        wait_until(lambda: fw.status()["decoder"]["decoded"] >= 5, 60, "frames decoded")
        texts = [fw.output(), fw.get("/api/status")[1].decode(), fw.get("/")[1].decode()]
        texts += [p for _, p, _ in rec.messages]
        assert "wifi.reset_after_s: must be a whole number" in texts[0]
        for t in texts:
            assert "hunter2" not in t
    finally:
        fw.kill()
        replay.stop()
        rec.close()


def test_whole_firmware_in_an_esp32_sized_heap_stays_flat_over_a_thousand_frames(tmp_path, broker):
    replay = Replay(KAIFA_REPLAY, speed=80, loop=True)
    fw = Firmware(tmp_path, {"mqtt": {"host": "127.0.0.1", "port": broker.port}}, replay.port, heapsize=ESP32_LIKE_HEAP, compiled=True,
                  device_sockets=False)  # the device's sockets are built in: the Python stand-in's heap is not its
    samples = []
    try:
        def enough():
            s = fw.status()
            samples.append((s["decoder"]["decoded"], s["heap_alloc"]))
            return s["decoder"]["decoded"] >= 1100
        wait_until(enough, 240, "1100 frames")
        status = fw.status()
        assert status["frames"]["bad_fcs"] == 0 and status["uart"]["overflow"] == 0
        assert status["mqtt"]["state"] == "connected"
        warm = [h for n, h in samples if 200 <= n < 500]
        late = [h for n, h in samples if n >= 800]
        assert warm and late
        # after gc.collect(), the heap in use does not grow with the frames
        assert max(late) <= max(warm) + 2048, (max(warm), max(late))
    finally:
        fw.kill()
        replay.stop()
