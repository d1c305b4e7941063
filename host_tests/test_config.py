# test_config.py Checks config.json loading: every bad field is named, defaults fill the rest, secrets stay hidden.
# Shared: runs under pytest and under the MicroPython unix port (mpy_runner.py).

import config

_GOOD = {"board": "esp32-devkitc", "wifi": {"ssid": "home", "password": "s3cret"}, "mqtt": {"host": "192.168.1.10"}}


def _errors(data, optional=()):
    return config.check(data, optional)[1]


def test_a_good_config_gets_defaults_for_what_it_leaves_out():
    cfg, errors = config.check(_GOOD)
    assert errors == []
    assert cfg["mqtt.port"] == 1883 and cfg["discovery.enabled"] and cfg["discovery.prefix"] == "homeassistant"
    assert cfg["meter.serial"] == "auto" and cfg["wifi.password"] == "s3cret"


def test_missing_required_fields_are_named():
    errors = _errors({"board": "esp32-devkitc"})
    assert "wifi.ssid: missing (it must be a string)" in errors
    assert "mqtt.host: missing (it must be a string)" in errors
    assert _errors({"mqtt": {"host": "h"}}, optional=("wifi.ssid",)) == []


def test_wrong_types_and_ranges_are_named_with_the_value():
    data = {"wifi": {"ssid": "home"}, "mqtt": {"host": "h", "port": "1883", "tls": "yes"}, "http": {"port": 70000}}
    errors = _errors(data)
    assert 'mqtt.port: must be a whole number (got "1883")' in errors
    assert 'mqtt.tls: must be true or false (got "yes")' in errors
    assert "http.port: must be from 1 to 65535 (got 70000)" in errors
    cfg = config.check(data)[0]
    assert cfg["mqtt.port"] == 1883 and cfg["http.port"] == 80  # bad values fall back to defaults


def test_unknown_fields_and_settings_are_named():
    errors = _errors({"wifi": {"ssid": "h", "pasword": "x"}, "mqtt": {"host": "h"}, "meter": {"serial": "aidon8n1"}})
    assert "wifi.pasword: unknown field" in errors
    assert any(e.startswith("meter.serial: must be one of auto, aidon") for e in errors)


def test_secrets_never_appear_in_messages_or_public_view():
    data = {"wifi": {"ssid": "h", "password": 12345}, "mqtt": {"host": "h", "password": ["hunter2"]}}
    cfg, errors = config.check(data)
    assert "wifi.password: must be a string" in errors and "mqtt.password: must be a string" in errors
    assert "12345" not in " ".join(errors) and "hunter2" not in " ".join(errors)
    cfg, _ = config.check(_GOOD)
    assert config.public(cfg)["wifi.password"] == "***" and "s3cret" not in str(config.public(cfg))


def test_unreadable_files_give_defaults_and_a_message():
    cfg, errors = config.load("/nonexistent/config.json")
    assert errors[0].startswith("/nonexistent/config.json not found") and cfg["mqtt.port"] == 1883
    path = "/tmp/han-test-config.json"
    with open(path, "w") as f:
        f.write('{"mqtt": {"host": "h",}')
    cfg, errors = config.load(path)
    assert errors == [path + " is not valid JSON: check commas, quotes and braces"]
    with open(path, "w") as f:
        f.write("[1, 2]")
    assert config.load(path)[1] == ["config must be a JSON object {...}"]


def test_tls_needs_a_ca_file():
    errors = _errors({"wifi": {"ssid": "h"}, "mqtt": {"host": "h", "tls": True}})
    assert any(e.startswith("mqtt.ca_file: missing") for e in errors)
    assert _errors({"wifi": {"ssid": "h"}, "mqtt": {"host": "h", "tls": True, "ca_file": "ca.crt"}}) == []


def test_oversize_input_is_refused_with_the_limit_named():
    errors = _errors({"wifi": {"ssid": "x" * 33}, "mqtt": {"host": "h", "prefix": "p" * 500}})
    assert "wifi.ssid: must be at most 32 characters" in errors[0]
    assert any(e.startswith("mqtt.prefix: must be at most 64 characters") and len(e) < 120 for e in errors)
    path = "/tmp/han-test-big-config.json"
    with open(path, "w") as f:
        f.write('{"mqtt": {"host": "h"}, "pad": "' + "x" * 9000 + '"}')
    assert config.load(path)[1] == [path + " is larger than 8192 bytes: not read"]


def test_a_section_of_the_wrong_type_is_named_as_such_not_as_unknown():
    errors = _errors({"wifi": {"ssid": "h"}, "mqtt": "192.168.1.10"})
    assert errors == ['mqtt: must be an object {...} of mqtt.* fields, such as {"host": "192.168.1.10"} (got "192.168.1.10")']
    errors = _errors({"wifi": {"ssid": "h"}, "mqtt": {"host": "h"}, "discovery": True})
    assert errors == ["discovery: must be an object {...} of discovery.* fields (got true)"]
    errors = _errors({"wifi": "s3cret", "mqtt": {"host": "h"}})  # maybe the password: never shown
    assert errors == ["wifi: must be an object {...} of wifi.* fields"]
    errors = _errors({"wifi": {"ssid": "h"}, "mqtt": {"host": "h"}, "board": {"name": "x"}})
    assert errors == ['board: must be a string (got {"name": "x"})']


def test_tariff_thresholds_and_rule_have_defaults_and_named_errors():
    cfg = config.check(_GOOD)[0]
    assert cfg["tariff.thresholds_kw"] == [2, 5, 10, 15, 20, 25, 50, 75, 100] and cfg["tariff.rule"] == "three_days"
    good = dict(_GOOD, tariff={"thresholds_kw": [2.5, 5, 10.125], "rule": "single_hour"})
    cfg, errors = config.check(good)
    assert errors == [] and cfg["tariff.rule"] == "single_hour"
    assert [config.kw_to_w(v) for v in cfg["tariff.thresholds_kw"]] == [2500, 5000, 10125]
    for bad, why in (([5, 2], "item 2 must be above 0 and above the one before"), ([0, 2], "item 1 must be above 0"),
                     ([2, "5"], "item 2 must be a number of kW"), ([1.0001], "item 1 must be a number of kW with at most 3 decimals"),
                     ([], "must be a list of 1 to 20"), ("2,5", "must be a list of 1 to 20"), ([True], "item 1 must be a number")):
        cfg, errors = config.check(dict(_GOOD, tariff={"thresholds_kw": bad}))
        assert len(errors) == 1 and errors[0].startswith("tariff.thresholds_kw: " + why), (bad, errors)
        assert cfg["tariff.thresholds_kw"] == [2, 5, 10, 15, 20, 25, 50, 75, 100]  # the default stands
    errors = _errors(dict(_GOOD, tariff={"rule": "mean"}))
    assert errors == ['tariff.rule: must be one of three_days, single_hour (got "mean")']


def test_a_grid_company_preset_gives_its_thresholds_and_given_thresholds_win_saying_so():
    cfg, errors = config.check(dict(_GOOD, tariff={"preset": "lede"}))
    assert errors == [] and cfg["tariff.thresholds_kw"] == [5, 10, 15, 20, 25, 50, 75, 100]  # no 2 kW step
    assert config.check(dict(_GOOD, tariff={"preset": "elvia"}))[0]["tariff.thresholds_kw"][:3] == [2, 5, 10]
    assert config.check(_GOOD)[0]["tariff.preset"] is None
    cfg, errors = config.check(dict(_GOOD, tariff={"preset": "Elvia"}))
    assert errors == ['tariff.preset: must be one of elvia, bkk, glitre, tensio_tn, lede, lnett (got "Elvia")']
    assert cfg["tariff.preset"] is None and cfg["tariff.thresholds_kw"] == [2, 5, 10, 15, 20, 25, 50, 75, 100]
    assert _errors(dict(_GOOD, tariff={"preset": 3})) == ["tariff.preset: must be a string (got 3)"]
    cfg, errors = config.check(dict(_GOOD, tariff={"preset": "lede", "thresholds_kw": [3, 6]}))
    assert cfg["tariff.thresholds_kw"] == [3, 6]
    assert errors == ["tariff.thresholds_kw: used as given, not tariff.preset lede's [5, 10, 15, 20, 25, 50, 75, 100] "
                      "(valid from 2026-05-01); leave one out"]
    same = [5, 10.0, 15, 20, 25, 50, 75, 100]  # the preset's, written otherwise: nothing to say
    assert config.check(dict(_GOOD, tariff={"preset": "lede", "thresholds_kw": same}))[1] == []
    cfg, errors = config.check(dict(_GOOD, tariff={"preset": "lede", "thresholds_kw": [5, 2]}))  # a bad list: the preset's
    assert cfg["tariff.thresholds_kw"][0] == 5 and len(errors) == 1 and errors[0].startswith("tariff.thresholds_kw: item 2")


def test_every_preset_names_the_date_it_is_valid_from_and_rising_thresholds():
    import tariff_presets

    for name in tariff_presets.NAMES:
        since, kw = tariff_presets.steps(name)
        assert len(since) == 10 and since[4] == since[7] == "-" and since[:4] >= "2026", name
        assert all(kw[i] < kw[i + 1] for i in range(len(kw) - 1)) and config._thresholds(kw) is None, name
    assert tariff_presets.steps("nope") is None


def test_the_accounting_switch_defaults_to_auto_and_names_a_wrong_value():
    cfg, errors = config.check(_GOOD)
    assert errors == [] and cfg["tariff.accounting"] == "auto"
    assert _errors(dict(_GOOD, tariff={"accounting": "yes"})) == ['tariff.accounting: must be one of auto, on, off (got "yes")']


def test_the_admin_section_is_the_settings_pages_and_stays_out_of_the_config_held():
    # lib/setup_form.py reads admin.password_hash from the file when it needs it; the App never holds it
    cfg, errors = config.check({"wifi": {"ssid": "x"}, "mqtt": {"host": "h"}, "admin": {"password_hash": "1000$ab$cd"}})
    assert errors == [] and not [k for k in cfg if k.startswith("admin")]
    assert "1000$ab$cd" not in str(config.public(cfg))


def test_meter_keys_must_be_32_hex_digits_and_stay_secret():
    keys = {"key": "34743677397A24432646294A404E6352", "auth_key": "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"}
    cfg, errors = config.check({"wifi": {"ssid": "h"}, "mqtt": {"host": "h"}, "meter": keys})
    assert errors == [] and cfg["meter.key"] == keys["key"] and cfg["meter.auth_key"] == keys["auth_key"]
    assert keys["key"] not in str(config.public(cfg)) and config.public(cfg)["meter.auth_key"] == "***"
    assert config.check(_GOOD)[0]["meter.key"] is None  # no key: encrypted frames are counted as such
    for bad in ("3474367739", "34743677397A24432646294A404E635Z", "34 74 36 77 39 7A 24 43 26 46 29 4A 40 4E 63 52", 1234):
        errors = _errors({"wifi": {"ssid": "h"}, "mqtt": {"host": "h"}, "meter": {"key": bad}})
        assert errors == ["meter.key: must be 32 hex digits (16 bytes, as the grid company gives the key)"], bad
    errors = _errors({"wifi": {"ssid": "h"}, "mqtt": {"host": "h"}, "meter": {"auth_key": keys["auth_key"]}})
    assert errors == ["meter.key: missing (meter.auth_key is used only with the encryption key)"]
