# ha_check.py Provides, run by a Home Assistant install's Python, its own reading of discovery configs: schema, classes and units, and each value template over messages.
#
# stdin: {"configs": [[topic, payload text], ...], "messages": {state topic: [payload text, ...]}}
# stdout: {"version", "errors": [...], "log": [WARNING and above], "expanded": {topic: config as the
# integration reads it}, "rendered": {topic: [rendered value per message of its state topic]}}
# host_tests/test_ha_discovery.py runs it; it needs no broker and no running Home Assistant, only
# the package (the real Home Assistant test runs the whole thing).

import asyncio
import json
import logging
import sys
import tempfile

from homeassistant.const import __version__
from homeassistant.core import HomeAssistant
from homeassistant.helpers import frame

log = []


class _Keep(logging.Handler):
    def emit(self, record):
        if record.levelno >= logging.WARNING:
            log.append("%s %s: %s" % (record.levelname, record.name, record.getMessage()))


async def main(data):
    hass = HomeAssistant(tempfile.mkdtemp())
    if hasattr(frame, "async_setup"):  # 2025.x on: templates and cv.template want it
        frame.async_setup(hass)
    from homeassistant.components.mqtt import sensor
    from homeassistant.components.mqtt.discovery import _replace_all_abbreviations
    from homeassistant.components.sensor.const import DEVICE_CLASS_STATE_CLASSES, DEVICE_CLASS_UNITS
    from homeassistant.helpers.template import Template

    out = {"version": __version__, "errors": [], "expanded": {}, "rendered": {}}
    for topic, text in data["configs"]:
        payload = json.loads(text)
        _replace_all_abbreviations(payload)
        out["expanded"][topic] = payload
        try:
            config = sensor.DISCOVERY_SCHEMA(dict(payload))  # unknown keys are dropped, as in discovery
        except Exception as e:  # a rejected config: Home Assistant logs it as an error
            out["errors"].append("%s: %s" % (topic, e))
            continue
        cls, unit, state_class = config.get("device_class"), config.get("unit_of_measurement"), config.get("state_class")
        if cls is not None:
            if cls in DEVICE_CLASS_UNITS and unit not in DEVICE_CLASS_UNITS[cls]:
                out["errors"].append("%s: unit %r is not one of device class %s's" % (topic, unit, cls))
            if state_class is not None and cls in DEVICE_CLASS_STATE_CLASSES and state_class not in DEVICE_CLASS_STATE_CLASSES[cls]:
                out["errors"].append("%s: state class %s does not go with device class %s" % (topic, state_class, cls))
        template = Template(payload["value_template"], hass)
        out["rendered"][topic] = [template.async_render_with_possible_json_value(m, "<error>")
                                  for m in data["messages"].get(payload["state_topic"], [])]
    await hass.async_stop(force=True)
    return out


if __name__ == "__main__":
    logging.getLogger().addHandler(_Keep())
    result = asyncio.run(main(json.load(sys.stdin)))
    result["log"] = log
    json.dump(result, sys.stdout)
