# test_ha_log.py Checks which Home Assistant log entries fail the real Home Assistant tests: ours of WARNING or worse, nothing else.

from ha import problems

LOG = """2026-12-01 06:17:31.854 WARNING (MainThread) [homeassistant.bootstrap] Skipping pip installation of required modules. This may cause issues
2026-12-01 06:17:33.481 ERROR (ImportExecutor_0) [homeassistant.components.camera.img_util] Error loading libturbojpeg; Camera snapshot performance will be sub-optimal
2026-12-01 06:24:13.701 ERROR (MainThread) [homeassistant.components.mqtt.models] Exception raised while updating state of sensor.han_6970631402614476_voltage_l1, topic: 'han/test/power'
Traceback (most recent call last):
ValueError: Sensor sensor.han_6970631402614476_voltage_l1 has device class 'voltage' ... non-numeric value: 'unknown'
2026-12-01 06:24:14.000 INFO (MainThread) [homeassistant.components.mqtt.discovery] Found new component: sensor han_6970631402614476 voltage_l1
2026-12-01 06:24:15.000 WARNING (MainThread) [homeassistant.components.sensor] Entity sensor.han_dongle_test_uptime is using state class 'measurement'
"""


def test_only_our_entries_of_warning_or_worse_count_with_their_tracebacks():
    found = problems(LOG)
    assert len(found) == 2
    assert found[0].startswith("2026-12-01 06:24:13.701 ERROR") and found[0].endswith("non-numeric value: 'unknown'")
    assert "han_dongle_test_uptime" in found[1]


def test_home_assistants_own_noise_and_info_lines_do_not_count():
    noise = "".join(line + "\n" for line in LOG.splitlines() if "han" not in line and "Traceback" not in line and "ValueError" not in line)
    assert "libturbojpeg" in noise and problems(noise) == []
