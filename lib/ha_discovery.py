# ha_discovery.py Provides config(): the Home Assistant MQTT discovery message for one value a meter sends.
# MIT license
#
# Imported by lib/mqtt_pub.py only while it announces, and dropped again: its code costs no RAM
# the rest of the time.

import json
from obis import NAMES, KINDS, UNITS, KIND_POWER, KIND_CURRENT, KIND_VOLTAGE, KIND_ENERGY, KIND_PF
from mqtt_pub import NET_POWER

_CLASS = {KIND_CURRENT: "current", KIND_VOLTAGE: "voltage", KIND_PF: "power_factor"}

# A power message carries only what its list carries (list 1: import power alone), so a sensor
# whose value is absent keeps its state instead of going "unknown".
_TEMPLATE = "{{ value_json.%s if '%s' in value_json else this.state }}"
# Net power: from both values when the message has them; while importing, export is zero.
_NET_TEMPLATE = (
    "{% if 'active_power_export' in value_json %}"
    "{{ value_json.active_power_import - value_json.active_power_export }}"
    "{% elif value_json.active_power_import > 0 %}{{ value_json.active_power_import }}"
    "{% else %}{{ this.state }}{% endif %}"
)


def node_id(meter_id):
    # unique_id and topic part from the meter's serial: stable across device names and rebuilds
    return "han_" + "".join(c if c.isalpha() or c.isdigit() else "_" for c in meter_id)


def _title(name):
    # "current_l1" -> "Current L1"
    s = " ".join(w.upper() if w in ("l1", "l2", "l3") else w for w in name.split("_"))
    return s[0].upper() + s[1:]


def config(field, meter, topics, disc_prefix, version):
    # (topic, payload) of one sensor. meter: dict with meter_id, meter_manufacturer, meter_type.
    node = node_id(meter["meter_id"])
    if field == NET_POWER:
        kind, unit, template, state = KIND_POWER, "W", _NET_TEMPLATE, topics["power"]
    else:
        f = NAMES.index(field)
        kind, unit = KINDS[f], UNITS[f]
        template = _TEMPLATE % (field, field)
        state = topics["energy"] if kind == KIND_ENERGY else topics["power"]
    payload = {
        "name": _title(field),
        "unique_id": node + "_" + field,
        "object_id": node + "_" + field,
        "state_topic": state,
        "value_template": template,
        "availability_topic": topics["status"],
        "device": {
            "identifiers": [node],
            "manufacturer": meter.get("meter_manufacturer") or "Unknown",
            "model": meter.get("meter_type") or "AMS meter",
            "name": "%s meter %s" % (meter.get("meter_manufacturer") or "AMS", meter["meter_id"]),
            "serial_number": meter["meter_id"],
        },
        "origin": {"name": "han-dongle", "sw_version": version},
    }
    if unit:
        payload["unit_of_measurement"] = unit
    if kind == KIND_ENERGY:
        payload["state_class"] = "total_increasing"  # what the Energy dashboard needs
        if unit == "kWh":
            payload["device_class"] = "energy"
        payload["suggested_display_precision"] = 2
    else:
        payload["state_class"] = "measurement"
        if kind == KIND_POWER:
            payload["device_class"] = "power" if unit == "W" else "reactive_power"
        elif kind in _CLASS:
            payload["device_class"] = _CLASS[kind]
    return "%s/sensor/%s/%s/config" % (disc_prefix, node, field), json.dumps(payload)

