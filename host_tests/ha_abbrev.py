# ha_abbrev.py Provides expand(): a discovery payload with Home Assistant's abbreviations written out, as its MQTT integration reads them.

# The abbreviations lib/ha_discovery.py uses, as homeassistant/components/mqtt/abbreviations.py
# defines them (def_ent_id from 2025.10 on); test_ha_discovery checks this table against a real
# Home Assistant where one is installed.
TOP = {"uniq_id": "unique_id", "obj_id": "object_id", "def_ent_id": "default_entity_id", "stat_t": "state_topic",
       "val_tpl": "value_template", "avty_t": "availability_topic", "dev": "device", "o": "origin",
       "unit_of_meas": "unit_of_measurement", "dev_cla": "device_class", "stat_cla": "state_class",
       "sug_dsp_prc": "suggested_display_precision", "ent_cat": "entity_category"}
DEVICE = {"ids": "identifiers", "mf": "manufacturer", "mdl": "model", "sn": "serial_number", "sw": "sw_version"}
ORIGIN = {"sw": "sw_version"}


def expand(payload):
    out = {TOP.get(k, k): v for k, v in payload.items()}
    if "device" in out:
        out["device"] = {DEVICE.get(k, k): v for k, v in out["device"].items()}
    if "origin" in out:
        out["origin"] = {ORIGIN.get(k, k): v for k, v in out["origin"].items()}
    return out
