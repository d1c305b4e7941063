# test_ha_discovery.py Checks the Home Assistant discovery configs: ids, classes, templates, the dongle's sensors, the removal list; and Home Assistant's own reading of what the firmware publishes.

import json
import os
import subprocess

import pytest

import ha_discovery as ha
from ha_abbrev import expand
from harness import ROOT, Firmware, Recorder, Replay, wait_until
from mqtt_pub import NET_POWER
from obis import NAMES, NUMERIC

METER = {"meter_id": "6970631402614476", "meter_manufacturer": "Kaifa", "meter_type": "MA304H3E", "list_ver_id": "KFM_001"}
TOPICS = {k: "han/test/" + k for k in ("status", "power", "energy", "meter", "diag", "accounting", "totals")}
FIELDS = NAMES[:NUMERIC] + [NET_POWER]
NODE = "han_6970631402614476"
KAIFA_REPLAY = os.path.join(ROOT, "tools", "replays", "kaifa.hanlog")
# the device classes of Home Assistant 2024.6 (homeassistant/components/sensor/const.py) that fit a
# meter and a dongle, with the units it accepts for them: a class it does not know rejects the sensor
CLASSES_2024_6 = {"power": {"W", "kW"}, "reactive_power": {"var"}, "current": {"A", "mA"}, "voltage": {"V", "mV"},
                  "power_factor": {"%", None}, "energy": {"Wh", "kWh", "MWh", "MJ", "GJ"}, "signal_strength": {"dB", "dBm"},
                  "duration": {"d", "h", "min", "s", "ms"}, "data_size": {"B", "kB", "KiB", "MB", "MiB"}}


def _meter_configs():
    return [ha.meter_config(f, METER, TOPICS, "homeassistant", "0.1.0", "test") for f in FIELDS]


def _acc_configs():
    return [ha.accounting_config(i, METER, TOPICS, "homeassistant", "0.1.0", "test") for i in range(len(ha.ACCOUNTING))]


def _dongle_configs():
    return [ha.dongle_config(i, "test", "esp32-devkitc", TOPICS, "homeassistant", "0.1.0") for i in range(len(ha.DONGLE))]


def test_each_meter_sensor_has_ids_from_the_meter_serial_that_name_the_same_entity_on_every_release():
    for field, (topic, text) in zip(FIELDS, _meter_configs()):
        p = expand(json.loads(text))
        uid = NODE + "_" + field
        assert topic == "homeassistant/sensor/%s/%s/config" % (NODE, field)
        assert p["unique_id"] == uid
        assert p["object_id"] == uid  # releases before 2025.10 make the entity id from it
        assert p["default_entity_id"] == "sensor." + uid  # 2025.10 on: it wins over object_id, which 2026.4 drops
        assert p["availability_topic"] == "han/test/status"
        assert p["device"] == {"identifiers": [NODE], "manufacturer": "Kaifa", "model": "MA304H3E", "name": "Kaifa meter 6970631402614476",
                               "serial_number": "6970631402614476", "via_device": "han_dongle_test"}
        assert p["origin"] == {"name": "han-dongle", "sw_version": "0.1.0"}
        assert p["state_topic"] == ("han/test/energy" if "energy" in field else "han/test/power")


def test_classes_and_units_are_ones_the_oldest_supported_release_knows():
    seen = set()
    for _, text in _meter_configs() + _acc_configs() + _dongle_configs():
        p = expand(json.loads(text))
        cls = p.get("device_class")
        if cls:
            seen.add(cls)
            assert cls in CLASSES_2024_6 and p.get("unit_of_measurement") in CLASSES_2024_6[cls], p
    assert seen == set(CLASSES_2024_6)
    by_field = {f: expand(json.loads(t)) for f, (_, t) in zip(FIELDS, _meter_configs())}
    assert by_field["active_energy_import"]["state_class"] == "total_increasing"
    assert by_field["active_energy_import"]["device_class"] == "energy"
    assert "device_class" not in by_field["reactive_energy_import"]  # kvarh: reactive_energy is newer than 2024.6
    net = by_field[NET_POWER]
    assert (net["device_class"], net["state_class"], net["unit_of_measurement"]) == ("power", "measurement", "W")


def test_no_template_falls_back_to_the_sensors_own_state():
    # this.state renders "unknown" on a sensor without state: a numeric sensor logs an error for it
    for _, text in _meter_configs() + _acc_configs() + _dongle_configs():
        assert "this." not in json.loads(text)["val_tpl"]


def test_the_dongle_is_a_device_of_its_own_with_diagnostic_sensors():
    keys = [d[0] for d in ha.DONGLE]
    assert keys == ["rssi", "uptime", "version", "ip", "frames_decoded", "checksum_errors", "heap_free", "last_error"]
    for key, (topic, text) in zip(keys, _dongle_configs()):
        p = expand(json.loads(text))
        assert topic == "homeassistant/sensor/han_dongle_test/%s/config" % key
        assert p["unique_id"] == p["object_id"] == "han_dongle_test_" + key
        assert p["default_entity_id"] == "sensor.han_dongle_test_" + key
        assert p["entity_category"] == "diagnostic" and p["state_topic"] == "han/test/diag"
        assert p["device"] == {"identifiers": ["han_dongle_test"], "name": "HAN dongle test", "manufacturer": "han-dongle",
                               "model": "esp32-devkitc", "sw_version": "0.1.0"}


def test_the_removal_of_a_replaced_meter_covers_every_config_it_can_have_had():
    removed = list(ha.removal_topics(METER["meter_id"], "homeassistant"))
    assert sorted(removed) == sorted(t for t, _ in _meter_configs() + _acc_configs())


def test_the_accounting_sensors_are_on_the_meters_device_and_only_the_running_totals_have_statistics():
    keys = [a[0] for a in ha.ACCOUNTING]
    assert keys == ["hour_import", "hour_projected", "hour_left", "today_import", "today_export", "today_peak", "month_peak_1",
                    "month_peak_2", "month_peak_3", "peak_mean", "capacity_step", "import_total", "export_total"]
    meter_device = expand(json.loads(_meter_configs()[0][1]))["device"]
    for key, (topic, text) in zip(keys, _acc_configs()):
        p = expand(json.loads(text))
        assert topic == "homeassistant/sensor/%s/%s/config" % (NODE, key) and p["unique_id"] == NODE + "_" + key
        assert p["device"] == meter_device
        if key.endswith("_total"):
            assert (p["state_topic"], p["device_class"], p["state_class"], p["unit_of_measurement"]) == (
                "han/test/totals", "energy", "total_increasing", "kWh")
            assert METER["meter_id"] in p["value_template"]  # the retained totals of a swapped-out meter are not this one's
        else:
            assert p["state_topic"] == "han/test/accounting"
            assert "state_class" not in p or p["device_class"] == "power"  # they restart each hour, day or month


def test_the_meter_announced_last_is_kept_on_flash(tmp_path):
    path = str(tmp_path / "ha_meter.txt")
    assert ha.previous_meter(path) is None
    ha.remember_meter(path, "123")
    ha.remember_meter(path, "456")
    assert ha.previous_meter(path) == "456" and os.listdir(str(tmp_path)) == ["ha_meter.txt"]


def test_a_config_is_small_enough_to_build_whole_in_ram():
    # each is built as one string on the device (then dropped): the longest is an energy sensor's,
    # whose template names its meter
    assert max(len(t) for _, t in _meter_configs() + _dongle_configs()) < 800


def _ha_python():
    # a Home Assistant install's Python: HAN_HA_PYTHON, or the venv the real Home Assistant test builds
    path = os.environ.get("HAN_HA_PYTHON") or os.path.join(ROOT, "build", "ha-venv", "bin", "python")
    return path if os.path.exists(path) else None


def _expected(field_or_key, message, config):
    # what the template should render for one message: the value as Home Assistant's Jinja prints it
    m = json.loads(message)
    if config["state_topic"].endswith("/diag"):
        d = {"rssi": m["rssi"], "uptime": m["uptime_s"], "version": m["version"], "ip": m["ip"] or "none",
             "frames_decoded": m["decoder"]["decoded"], "checksum_errors": m["frames"]["bad_hcs"] + m["frames"]["bad_fcs"],
             "heap_free": m["heap_free"], "last_error": (m["last_error"] or "none")[:255]}[field_or_key]
        return str(d)
    if config["state_topic"].endswith("/accounting") or config["state_topic"].endswith("/totals"):
        return _accounting_expected(field_or_key, m)
    if field_or_key not in m or ("energy" in field_or_key and m.get("meter_id") != METER["meter_id"]):
        return ""  # the sensor keeps its state: every supported release ignores "" for a numeric sensor
    return str(m[field_or_key])


def _accounting_expected(key, m):
    # the accounting's sensors (lib/acct_json.py's message): "" where the part is null
    h, t, mo = m.get("hour"), m.get("today"), m.get("month")
    if key.endswith("_total"):
        return str(m[key.replace("_total", "_kwh")]) if m.get("meter_id") == METER["meter_id"] else ""
    if key.startswith("hour_"):
        v = h and h[{"hour_import": "import_kwh", "hour_projected": "projected_kwh", "hour_left": "left_kwh"}[key]]
    elif key.startswith("today_"):
        v = t and (t["peak"] and t["peak"]["kwh"] if key == "today_peak" else t[key.replace("today_", "") + "_kwh"])
    elif key.startswith("month_peak_"):
        i = int(key[-1]) - 1
        v = mo and len(mo["peaks"]) > i and mo["peaks"][i]["kwh"]
    elif key == "peak_mean":
        v = mo and mo["peak_mean_kw"]
    else:
        lo, up = mo["step_kw"] if mo else (None, None)
        return "" if not mo else ("%s-%s kW" % (lo, up) if up is not None else "over %s kW" % lo)
    return "" if v is None or v is False else str(v)


@pytest.mark.skipif(_ha_python() is None, reason="no Home Assistant installed (build/ha-venv, or HAN_HA_PYTHON)")
def test_home_assistant_reads_every_config_and_message_the_firmware_publishes_without_a_warning(tmp_path, broker):
    rec = Recorder(broker.port)
    replay = Replay(KAIFA_REPLAY, speed=25)
    fw = Firmware(tmp_path, {"mqtt": {"host": "127.0.0.1", "port": broker.port}, "meter": {"serial": "kaifa"}}, replay.port, diag_s=1)
    try:
        wait_until(lambda: rec.on("han/test/energy") and rec.on("han/test/diag"), 60, "energy and diag messages")
        wait_until(replay.done, 60, "the end of the replay")
    finally:
        fw.kill()
        replay.stop()
        rec.close()
    configs = [(t, p) for t, p, _ in rec.messages if t.startswith("homeassistant/sensor/") and p]
    messages = {t: rec.on(t) for t in ("han/test/power", "han/test/energy", "han/test/diag", "han/test/accounting", "han/test/totals")}
    assert any(json.loads(m)["hour"] for m in messages["han/test/accounting"]) and messages["han/test/totals"]
    # the month and the top step, which the hour of the replay does not reach; and another meter's totals
    live = json.loads(messages["han/test/accounting"][-1])
    month = {"month": "2026-03", "peaks": [{"hour": "2026-03-02T07:00+01:00", "kwh": 6.1}, {"hour": "2026-03-01T18:00+01:00", "kwh": 5.9}],
             "peak_mean_kw": 6.0, "step_kw": [5, 10], "rise_kw": 4.0}
    messages["han/test/accounting"] += [json.dumps(dict(live, month=month)),
                                        json.dumps(dict(live, month=dict(month, step_kw=[100, None], rise_kw=None),
                                                        hour=dict(live["hour"], left_kwh=None))),
                                        json.dumps(dict(live, hour=None, today=None, month=None, totals=None))]
    messages["han/test/totals"].append(json.dumps(dict(json.loads(messages["han/test/totals"][-1]), meter_id="7359992890941742")))
    energy = json.loads(messages["han/test/energy"][0])
    # the retained energy of a meter swapped out, and an energy message from before meter_id was in it
    messages["han/test/energy"] += [json.dumps(dict(energy, meter_id="7359992890941742")),
                                    json.dumps({k: v for k, v in energy.items() if k != "meter_id"})]
    # a dongle on Wi-Fi, after an error whose text is longer than a state may be
    diag = json.loads(messages["han/test/diag"][0])
    messages["han/test/diag"].append(json.dumps(dict(diag, rssi=-61, ip="192.168.1.23", last_error="OSError: " + "x" * 400)))
    assert any(json.loads(p)["list"] == 1 for p in messages["han/test/power"])
    assert len({t for t, _ in configs if "han_dongle_test" in t}) == len(ha.DONGLE)

    run = subprocess.run([_ha_python(), os.path.join(ROOT, "host_tests", "ha_check.py")], input=json.dumps(
        {"configs": configs, "messages": messages}), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout)
    assert out["errors"] == [] and out["log"] == [], (out["version"], out["errors"], out["log"])
    knows_default_entity_id = tuple(int(n) for n in out["version"].split(".")[:2]) >= (2025, 10)
    for topic, text in configs:
        config = out["expanded"][topic]
        want = expand(json.loads(text))
        if not knows_default_entity_id:  # no abbreviation for it yet: the schema drops the key unread
            want["def_ent_id"] = want.pop("default_entity_id")
        assert config == want, "ha_abbrev.py differs from Home Assistant %s" % out["version"]
        key = topic.split("/")[3]
        want = [_expected(key, m, config) for m in messages[config["state_topic"]]]
        assert out["rendered"][topic] == want, (topic, config["value_template"])
