# ha_discovery.py Provides the Home Assistant MQTT discovery messages: the meter's sensors, the dongle's diagnostics, and the removal of a replaced meter.
# MIT license
#
# Imported by lib/mqtt_pub.py only while it announces, and dropped again: its code costs no RAM
# the rest of the time. What each key and template is for, and which Home Assistant release
# behaves how, is in docs/home-assistant.md. Keys are the integration's abbreviations (all known
# to 2024.6, except def_ent_id, which releases before 2025.10 drop unread): a config is about a
# third shorter, and is built in RAM whole.

import json
from obis import NAMES, KINDS, UNITS, NUMERIC, KIND_POWER, KIND_CURRENT, KIND_VOLTAGE, KIND_ENERGY, KIND_PF
from mqtt_pub import NET_POWER

_CLASS = {KIND_CURRENT: "current", KIND_VOLTAGE: "voltage", KIND_PF: "power_factor"}

# A message carries only what its list carries (list 1: import power alone). For a field it lacks
# the template renders "", which every supported release ignores for a numeric sensor (the state
# stays); `this.state` would render "unknown" on a sensor without state, an error per sensor.
_TEMPLATE = "{{ value_json.%s if '%s' in value_json else '' }}"
# The energy topic is retained: after a meter swap it still holds the old meter's registers until
# the new meter's first list 3. An energy sensor takes values of its own meter only.
_ENERGY_TEMPLATE = "{{ value_json.%s if '%s' in value_json and value_json.meter_id == %s else '' }}"

# The dongle's health, from the diag topic (the status API's diagnostics):
# (key, name, template, unit, device class, state class)
DONGLE = (
    ("rssi", "Wi-Fi RSSI", "{{ value_json.rssi }}", "dBm", "signal_strength", "measurement"),
    ("uptime", "Uptime", "{{ value_json.uptime_s }}", "s", "duration", "measurement"),
    ("version", "Firmware version", "{{ value_json.version }}", None, None, None),
    ("ip", "IP address", "{{ value_json.ip or 'none' }}", None, None, None),
    ("frames_decoded", "Frames decoded", "{{ value_json.decoder.decoded }}", None, None, "total_increasing"),
    ("checksum_errors", "Checksum errors", "{{ value_json.frames.bad_hcs + value_json.frames.bad_fcs }}", None, None, "total_increasing"),
    ("heap_free", "Free heap", "{{ value_json.heap_free }}", "B", "data_size", "measurement"),
    ("last_error", "Last error", "{{ (value_json.last_error or 'none')[:255] }}", None, None, None),
)

# The accounting's sensors, on the meter's device (lib/acct_json.py; docs/status-api.md has the
# message): (key, name, topic, template, unit, device class, state class). The parts are null
# until known: the template renders "" then. Only the running totals have a state class (what the
# Energy dashboard takes); the others restart every hour, day or month.
_A = "{{ value_json.%s.%s if value_json.%s else '' }}"
_PEAK = "{{ value_json.month.peaks[%d].kwh if value_json.month and value_json.month.peaks | length > %d else '' }}"
ACCOUNTING = (
    ("hour_import", "Import this hour", "accounting", _A % ("hour", "import_kwh", "hour"), "kWh", "energy", None),
    ("hour_projected", "Import this hour projected", "accounting", _A % ("hour", "projected_kwh", "hour"), "kWh", "energy", None),
    ("hour_left", "Import left this hour before the step rises", "accounting",
     "{{ value_json.hour.left_kwh if value_json.hour and value_json.hour.left_kwh is not none else '' }}", "kWh", "energy", None),
    ("today_import", "Import today", "accounting", _A % ("today", "import_kwh", "today"), "kWh", "energy", None),
    ("today_export", "Export today", "accounting", _A % ("today", "export_kwh", "today"), "kWh", "energy", None),
    ("today_peak", "Peak hour today", "accounting",
     "{{ value_json.today.peak.kwh if value_json.today and value_json.today.peak else '' }}", "kWh", "energy", None),
    ("month_peak_1", "Month peak 1", "accounting", _PEAK % (0, 0), "kWh", "energy", None),
    ("month_peak_2", "Month peak 2", "accounting", _PEAK % (1, 1), "kWh", "energy", None),
    ("month_peak_3", "Month peak 3", "accounting", _PEAK % (2, 2), "kWh", "energy", None),
    ("peak_mean", "Month peak mean", "accounting", _A % ("month", "peak_mean_kw", "month"), "kW", "power", "measurement"),
    ("capacity_step", "Capacity step", "accounting",
     "{{ (value_json.month.step_kw[0] ~ '-' ~ value_json.month.step_kw[1] ~ ' kW' if value_json.month.step_kw[1] is not none"
     " else 'over ' ~ value_json.month.step_kw[0] ~ ' kW') if value_json.month else '' }}", None, None, None),
    ("import_total", "Import total", "totals", None, "kWh", "energy", "total_increasing"),
    ("export_total", "Export total", "totals", None, "kWh", "energy", "total_increasing"),
)
# the running totals' topic is retained: after a meter swap it holds the old meter's until the new one's
_TOTAL = "{{ value_json.%s if value_json.meter_id == %s else '' }}"


def node_id(meter_id):
    # unique_id and topic part from the meter's serial: stable across device names and rebuilds
    return "han_" + _safe(meter_id)


def dongle_id(device_id):
    return "han_dongle_" + _safe(device_id)


def _safe(text):
    return "".join(c if c.isalpha() or c.isdigit() else "_" for c in text)


def _title(name):
    # "current_l1" -> "Current L1"
    s = " ".join(w.upper() if w in ("l1", "l2", "l3") else w for w in name.split("_"))
    return s[0].upper() + s[1:]


def _common(node, key, name, state_topic, template, topics, version):
    uid = node + "_" + key
    return {
        "name": name,
        "uniq_id": uid,
        "obj_id": uid,  # the entity id until 2025.9; 2025.10 to 2026.3 take def_ent_id when both are there
        "def_ent_id": "sensor." + uid,  # the entity id from 2025.10
        "stat_t": state_topic,
        "val_tpl": template,
        "avty_t": topics["status"],
        "o": {"name": "han-dongle", "sw": version},
    }


def meter_config(field, meter, topics, disc_prefix, version, device_id):
    # (topic, payload) of one meter sensor. meter: dict with meter_id, meter_manufacturer, meter_type.
    meter_id = meter["meter_id"]
    node = node_id(meter_id)
    if field == NET_POWER:  # worked out by the firmware: the power message carries it
        kind, unit = KIND_POWER, "W"
    else:
        f = NAMES.index(field)
        kind, unit = KINDS[f], UNITS[f]
    if kind == KIND_ENERGY:
        template = _ENERGY_TEMPLATE % (field, field, repr(meter_id))
        state = topics["energy"]
    else:
        template = _TEMPLATE % (field, field)
        state = topics["power"]
    p = _common(node, field, _title(field), state, template, topics, version)
    p["dev"] = _meter_device(meter, node, device_id)
    if unit:
        p["unit_of_meas"] = unit
    if kind == KIND_ENERGY:
        p["stat_cla"] = "total_increasing"  # what the Energy dashboard needs
        if unit == "kWh":
            p["dev_cla"] = "energy"  # kvarh: no class (reactive_energy is newer than 2024.6)
        p["sug_dsp_prc"] = 2
    else:
        p["stat_cla"] = "measurement"
        if kind == KIND_POWER:
            p["dev_cla"] = "power" if unit == "W" else "reactive_power"
        elif kind in _CLASS:
            p["dev_cla"] = _CLASS[kind]
    return "%s/sensor/%s/%s/config" % (disc_prefix, node, field), json.dumps(p)


def _meter_device(meter, node, device_id):
    maker = meter.get("meter_manufacturer")
    meter_id = meter["meter_id"]
    return {
        "ids": [node],
        "mf": maker or "Unknown",
        "mdl": meter.get("meter_type") or "AMS meter",
        "name": "%s meter %s" % (maker or "AMS", meter_id),
        "sn": meter_id,
        "via_device": dongle_id(device_id),
    }


def accounting_config(i, meter, topics, disc_prefix, version, device_id):
    # (topic, payload) of the accounting's sensor ACCOUNTING[i], on the meter's device
    key, name, topic, template, unit, dev_class, state_class = ACCOUNTING[i]
    meter_id = meter["meter_id"]
    node = node_id(meter_id)
    if template is None:
        template = _TOTAL % (key.replace("_total", "_kwh"), repr(meter_id))
    p = _common(node, key, name, topics[topic], template, topics, version)
    p["dev"] = _meter_device(meter, node, device_id)
    if unit:
        p["unit_of_meas"] = unit
        p["sug_dsp_prc"] = 3 if state_class == "total_increasing" else 2
    if dev_class:
        p["dev_cla"] = dev_class
    if state_class:
        p["stat_cla"] = state_class
    return "%s/sensor/%s/%s/config" % (disc_prefix, node, key), json.dumps(p)


def dongle_config(i, device_id, board, topics, disc_prefix, version):
    # (topic, payload) of the dongle's diagnostic sensor DONGLE[i]
    key, name, template, unit, dev_class, state_class = DONGLE[i]
    node = dongle_id(device_id)
    p = _common(node, key, name, topics["diag"], template, topics, version)
    p["ent_cat"] = "diagnostic"
    p["dev"] = {"ids": [node], "name": "HAN dongle " + device_id, "mf": "han-dongle", "mdl": board or "ESP32", "sw": version}
    if unit:
        p["unit_of_meas"] = unit
    if dev_class:
        p["dev_cla"] = dev_class
    if state_class:
        p["stat_cla"] = state_class
    return "%s/sensor/%s/%s/config" % (disc_prefix, node, key), json.dumps(p)


def removal_topics(meter_id, disc_prefix):
    # every config topic a meter can have had: an empty retained message on each removes what was
    # there (and is ignored where nothing was). From the field table, so nothing per meter is kept.
    node = node_id(meter_id)
    for name in NAMES[:NUMERIC]:
        yield "%s/sensor/%s/%s/config" % (disc_prefix, node, name)
    yield "%s/sensor/%s/%s/config" % (disc_prefix, node, NET_POWER)
    for a in ACCOUNTING:
        yield "%s/sensor/%s/%s/config" % (disc_prefix, node, a[0])


def previous_meter(path):
    # the meter id last announced, kept on flash so that a swap seen after a reboot removes it too
    try:
        with open(path) as f:
            return f.read().strip() or None
    except OSError:
        return None


def remember_meter(path, meter_id):
    with open(path + ".tmp", "w") as f:
        f.write(meter_id)
    import os

    os.rename(path + ".tmp", path)  # whole or not at all
