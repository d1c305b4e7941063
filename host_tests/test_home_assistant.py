# test_home_assistant.py Checks what a real Home Assistant makes of the firmware: entities, values, classes, Energy, availability, restarts, a meter swap.
#
# One Home Assistant (build/ha-venv, `make ha-deps`; skipped with the reason where the machine has no
# Python >= 3.13), onboarded and with MQTT set up through its config flow, against the same
# mosquitto as the firmware on the unix port. The tests run in file order on that one house: first
# contact, the Energy dashboard, the dongle dying and coming back, Home Assistant restarting, then the
# grid company swapping the meter. What is expected comes from what the firmware published and from
# the discovery contract in docs/home-assistant.md. Any log entry of Home Assistant's of level
# WARNING or worse that names MQTT or our entities fails the test in which it appeared.

import json

import pytest

from harness import Broker, Firmware, Recorder, Replay, _kaifa_frame, free_port, wait_until
from corpus import records
from ha_discovery import ACCOUNTING
import ha

PREFIX = "han/test"
DONGLE = "han_dongle_test"  # HAN_DEVICE_ID is "test" in the harness
METER_A = "6970631402614476"  # the meter of the Kaifa lists 2 and 3 below
METER_B = "7340157030542476"  # the meter the grid company puts in its place (another Kaifa's list 3)
_NOT_FIELDS = ("list", "meter_datetime", "meter_id", "received")

# (unit, device class, state class) by what a field measures, as the contract names them
_CLASSES = (
    ("active_power", ("W", "power", "measurement")),
    ("reactive_power", ("var", "reactive_power", "measurement")),
    ("current", ("A", "current", "measurement")),
    ("voltage", ("V", "voltage", "measurement")),
    ("power_factor", (None, "power_factor", "measurement")),
    ("active_energy", ("kWh", "energy", "total_increasing")),
    ("reactive_energy", ("kvarh", None, "total_increasing")),
)

# the dongle's diagnostic sensors: key, the state the diag message gives it, (unit, device class, state class)
_DIAG = (
    ("rssi", lambda d: d["rssi"], ("dBm", "signal_strength", "measurement")),
    ("uptime", lambda d: d["uptime_s"], ("s", "duration", "measurement")),
    ("version", lambda d: d["version"], (None, None, None)),
    ("ip", lambda d: d.get("ip") or "none", (None, None, None)),
    ("frames_decoded", lambda d: d["decoder"]["decoded"], (None, None, "total_increasing")),
    ("checksum_errors", lambda d: d["frames"]["bad_hcs"] + d["frames"]["bad_fcs"], (None, None, "total_increasing")),
    ("heap_free", lambda d: d["heap_free"], ("B", "data_size", "measurement")),
    ("last_error", lambda d: (d.get("last_error") or "none")[:255], (None, None, None)),
)


# the accounting's sensors (lib/ha_discovery.py ACCOUNTING), on the meter's device
_ACC = tuple(a[0] for a in ACCOUNTING)


def _frames():
    by_id = {r["id"]: r for r in records("kaifa")}
    return {k: _kaifa_frame(by_id[i]) for k, i in (("L1", "kaifa-amshan-llc-list1"), ("L1b", "kaifa-ams-gh493-2"),
                                                    ("L2", "kaifa-amshan-llc-list2"), ("L3", "kaifa-amshan-llc-list3"),
                                                    ("B3", "kaifa-ams-gh242-1"))}


class House:
    # the broker, Home Assistant, a recorder of everything on the broker, and the dongle with its meter
    def __init__(self, tmp):
        self.tmp = tmp
        self.broker = self.rec = self.ha = self.fw = None
        self.uart = free_port()
        self.frames = _frames()
        self.plays = 0
        self.log_checked = 0  # how much of Home Assistant's log a test has checked

    def start(self):
        self.broker = Broker(self._dir("broker"))
        self.rec = Recorder(self.broker.port)
        self.ha = ha.HomeAssistant(self._dir("ha"))
        self.ha.start()
        self.ha.onboard()
        self.ha.setup_mqtt(self.broker.port)
        self.dongle_dir = self._dir("dongle")
        self.start_dongle()
        self.first_contact(METER_A, "L2", "L1")
        self.play("L2", "L1", "L3", "L1b")  # a list 1 last: the sensors it lacks keep the list 2's values

    def _dir(self, name):
        (self.tmp / name).mkdir()
        return self.tmp / name

    def start_dongle(self):
        self.fw = Firmware(self.dongle_dir, {"mqtt": {"host": "127.0.0.1", "port": self.broker.port}}, self.uart)

    def play(self, *names):
        # the meter sends these frames, and the firmware has decoded and published each one
        self.plays += 1
        path = self.tmp / ("meter%d.hanlog" % self.plays)
        with open(str(path), "w") as f:
            for i, name in enumerate(names):
                f.write("%.3f %s\n" % (i * 0.5, self.frames[name].hex()))
        before = self.fw.status()["decoder"]["decoded"]
        sent = len(self.rec.on(PREFIX + "/power"))
        replay = Replay(str(path), speed=4, port=self.uart)
        try:
            wait_until(replay.done, 60, "the replay to end")
            wait_until(lambda: self.fw.status()["decoder"]["decoded"] >= before + len(names), 30, "the frames decoded")
            wait_until(lambda: len(self.rec.on(PREFIX + "/power")) >= sent + len(names), 30, "the power messages")
        finally:
            replay.stop()

    def first_contact(self, meter, announce, then):
        # the meter's first frames announce it; Home Assistant subscribes to the power topic once it has
        # made the entities, and what was sent before that is gone (not retained), as at home. The meter
        # talks on until a value of it has come through.
        power = "sensor.han_%s_active_power_import" % meter

        def through():
            self.play(then)
            state = self.ha.states().get(power)
            return state and state["state"] not in ("unknown", "unavailable")
        self.play(announce)
        wait_until(through, 60, "Home Assistant to take the values of meter " + meter)

    def close(self):
        for part, end in ((self.fw, "kill"), (self.ha, "stop"), (self.rec, "close"), (self.broker, "stop")):
            if part:
                getattr(part, end)()


@pytest.fixture(scope="module")
def house(tmp_path_factory):
    reason = ha.unavailable_reason()
    if reason:
        pytest.skip(reason)
    h = House(tmp_path_factory.mktemp("house"))
    try:
        try:
            h.start()
        except AssertionError as e:  # with what Home Assistant said about it, if anything
            said = ha.problems(h.ha.log()) if h.ha else []
            if said:
                raise AssertionError("%s\n\nHome Assistant logged:\n\n%s" % (e, "\n\n".join(said))) from e
            raise
        yield h
    finally:
        h.close()


@pytest.fixture(autouse=True)
def no_log_problems(house):
    # Home Assistant logs nothing of WARNING or worse about MQTT or our entities while a test runs (the
    # first test answers for the house's setup too)
    yield
    text = house.ha.log()
    problems = ha.problems(text[house.log_checked:])
    house.log_checked = len(text)
    assert not problems, "Home Assistant logged:\n\n" + "\n\n".join(problems)


# --- what the firmware published, and what Home Assistant shows ---

def _published(rec, meter):
    # {field: last value} of the meter's fields: power messages, and energy messages of this meter
    values = {}
    for topic in (PREFIX + "/power", PREFIX + "/energy"):
        for text in rec.on(topic):
            m = json.loads(text) if text else {}
            if topic.endswith("energy") and m.get("meter_id", meter) != meter:
                continue
            values.update({k: v for k, v in m.items() if k not in _NOT_FIELDS})
    return values


def _diag(rec):
    sent = rec.on(PREFIX + "/diag")
    assert sent, "no diag message yet: the contract has one right after each connect"
    return json.loads(sent[-1])


def _same(state, value):
    if value is None:
        return state in ("unknown", "")  # a text sensor whose template rendered "" has ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(state) == float(value)
        except ValueError:
            return False
    return state == str(value)


def _mismatches(house, node, expected):
    # [(unique_id, entity_id, state in Home Assistant, value published)] that differ or are missing
    entities = house.ha.entities()
    states = house.ha.states()
    out = []
    for key, value in sorted(expected.items()):
        uid = node + "_" + key
        entity = entities.get(uid)
        state = states.get(entity["entity_id"]) if entity else None
        if state is None or not _same(state["state"], value):
            out.append((uid, entity and entity["entity_id"], state and state["state"], value))
    return out


def _acc_expected(house, meter):
    # {key: the state its template gives the last accounting and totals messages}; None: no state yet
    m = json.loads(house.rec.on(PREFIX + "/accounting")[-1])
    totals = [json.loads(t) for t in house.rec.on(PREFIX + "/totals") if meter in t]
    h, t, mo = m["hour"], m["today"], m["month"]
    peaks = mo["peaks"] if mo else []
    step = mo and mo["step_kw"]
    return {
        "hour_import": h and h["import_kwh"], "hour_projected": h and h["projected_kwh"], "hour_left": h and h["left_kwh"],
        "today_import": t and t["import_kwh"], "today_export": t and t["export_kwh"], "today_peak": t and t["peak"] and t["peak"]["kwh"],
        "month_peak_1": peaks[0]["kwh"] if peaks else None, "month_peak_2": peaks[1]["kwh"] if len(peaks) > 1 else None,
        "month_peak_3": peaks[2]["kwh"] if len(peaks) > 2 else None, "peak_mean": mo and mo["peak_mean_kw"],
        "capacity_step": step and ("%s-%s kW" % tuple(step) if step[1] is not None else "over %s kW" % step[0]),
        "import_total": totals[-1]["import_kwh"] if totals else None, "export_total": totals[-1]["export_kwh"] if totals else None,
    }


def _meter_expected(house, meter):
    return _published(house.rec, meter)


def _dongle_expected(house):
    d = _diag(house.rec)
    return {key: value(d) for key, value, _ in _DIAG}


def _wait_states(house, node, expected_of, what):
    # Home Assistant's states become what was published (a diag message may come in between: read again)
    last = []

    def agree():
        last[:] = _mismatches(house, node, expected_of())
        return not last
    try:
        wait_until(agree, 30, what)
    except AssertionError:
        raise AssertionError("%s: (unique_id, entity_id, Home Assistant's state, published value) that differ:\n%s"
                             % (what, "\n".join(map(str, last))))


def _entities_of(house, node):
    return {uid: e for uid, e in house.ha.entities().items() if uid.startswith(node + "_")}


# --- the tests, in the order of the house's life ---

def test_every_value_the_meter_sent_is_an_entity_with_the_same_state(house):
    node = "han_" + METER_A
    expected = _meter_expected(house, METER_A)
    assert {"active_power_import", "voltage_l1", "active_energy_import", "active_power_net"} <= set(expected)
    _wait_states(house, node, lambda: _meter_expected(house, METER_A), "the meter's entities")
    assert set(_entities_of(house, node)) == {node + "_" + k for k in tuple(expected) + _ACC}  # nothing more
    for uid, e in _entities_of(house, node).items():
        assert e["entity_id"] == "sensor." + uid  # the contract's entity ids, stable across releases


def test_the_accounting_is_entities_of_the_meter_with_the_states_published(house):
    node = "han_" + METER_A
    expected = _acc_expected(house, METER_A)
    assert expected["hour_import"] is not None and expected["import_total"] is not None  # the running totals are out
    _wait_states(house, node, lambda: _acc_expected(house, METER_A), "the accounting's entities")
    states = house.ha.states()
    for key in _ACC:
        a = states["sensor.%s_%s" % (node, key)]["attributes"]
        got = (a.get("unit_of_measurement"), a.get("device_class"), a.get("state_class"))
        if key.endswith("_total"):  # what the Energy dashboard takes
            assert got == ("kWh", "energy", "total_increasing"), (key, a)
        elif key == "peak_mean":
            assert got == ("kW", "power", "measurement"), (key, a)
        elif key == "capacity_step":
            assert got == (None, None, None), (key, a)
        else:  # restarts every hour, day or month: no statistics
            assert got == ("kWh", "energy", None), (key, a)


def test_units_device_and_state_classes_are_what_the_values_are(house):
    node = "han_" + METER_A
    states = house.ha.states()
    for uid, e in _entities_of(house, node).items():
        field = uid[len(node) + 1:]
        if field in _ACC:
            continue  # the accounting's: test_the_accounting_is_entities_of_the_meter_with_the_states_published
        want = [c for prefix, c in _CLASSES if field.startswith(prefix)][0]
        a = states[e["entity_id"]]["attributes"]
        assert (a.get("unit_of_measurement"), a.get("device_class"), a.get("state_class")) == want, uid
        assert e["entity_category"] is None, uid
    net = states["sensor.%s_active_power_net" % node]
    published = _meter_expected(house, METER_A)
    assert float(net["state"]) == published["active_power_net"]  # signed: import minus export


def test_the_meter_and_the_dongle_are_devices_and_the_meter_hangs_off_the_dongle(house):
    devices = house.ha.devices()
    meter = [d for d in devices if ["mqtt", "han_" + METER_A] in d["identifiers"]]
    dongle = [d for d in devices if ["mqtt", DONGLE] in d["identifiers"]]
    assert len(meter) == 1 and len(dongle) == 1, [d["identifiers"] for d in devices]
    meter, dongle = meter[0], dongle[0]
    assert (meter["manufacturer"], meter["model"], meter["name"]) == ("Kaifa", "MA304H3E", "Kaifa meter " + METER_A)
    assert meter["serial_number"] == METER_A
    assert meter["via_device_id"] == dongle["id"]
    assert (dongle["name"], dongle["manufacturer"], dongle["model"]) == ("HAN dongle test", "han-dongle", "host")
    assert dongle["sw_version"] == _diag(house.rec)["version"]
    entities = house.ha.entities()
    assert all(e["device_id"] == meter["id"] for uid, e in entities.items() if uid.startswith("han_" + METER_A))


def test_the_dongles_health_is_diagnostic_entities_with_the_states_it_published(house):
    _wait_states(house, DONGLE, lambda: _dongle_expected(house), "the dongle's entities")
    entities = _entities_of(house, DONGLE)
    assert set(entities) == {DONGLE + "_" + key for key, _, _ in _DIAG}
    states = house.ha.states()
    for key, _, want in _DIAG:
        e = entities[DONGLE + "_" + key]
        assert e["entity_category"] == "diagnostic" and e["entity_id"] == "sensor.%s_%s" % (DONGLE, key)
        a = states[e["entity_id"]]["attributes"]
        assert (a.get("unit_of_measurement"), a.get("device_class"), a.get("state_class")) == want, key


def test_the_energy_dashboard_takes_the_kwh_sensors(house):
    node = "han_" + METER_A
    stats = house.ha.statistic_ids()
    imp, exp = "sensor.%s_import_total" % node, "sensor.%s_export_total" % node  # the README's choice: the running totals
    for sid in (imp, exp, "sensor.%s_active_energy_import" % node, "sensor.%s_active_energy_export" % node):  # what the dashboard's grid consumption and return pickers offer
        assert sid in stats, sorted(stats)
        assert stats[sid]["statistics_unit_of_measurement"] == "kWh" and stats[sid]["has_sum"], stats[sid]
        assert stats[sid]["unit_class"] == "energy"
    source = {"type": "grid", "cost_adjustment_day": 0,
              "flow_from": [{"stat_energy_from": imp, "stat_cost": None, "entity_energy_price": None, "number_energy_price": None}],
              "flow_to": [{"stat_energy_to": exp, "stat_compensation": None, "entity_energy_price": None, "number_energy_price": None}]}
    house.ha.ws("energy/save_prefs", energy_sources=[source], device_consumption=[])
    result = house.ha.ws("energy/validate")
    issues = [i for source_issues in result["energy_sources"] for i in source_issues]
    # a sensor's first statistics are compiled at the next 5-minute mark: until then the dashboard
    # says "statistics not defined, wait up to 5 minutes", which is not a fault of the sensor
    assert [i for i in issues if i["type"] != "statistics_not_defined"] == [], issues


def test_entities_go_unavailable_when_the_dongle_dies_and_come_back_with_it(house):
    ours = [e["entity_id"] for e in list(_entities_of(house, "han_" + METER_A).values()) + list(_entities_of(house, DONGLE).values())]
    house.fw.kill()  # no goodbye: the broker publishes the last will
    wait_until(lambda: all(house.ha.states()[e]["state"] == "unavailable" for e in ours), 30, "every entity unavailable")
    house.start_dongle()
    house.play("L1", "L2")
    _wait_states(house, "han_" + METER_A, lambda: _meter_expected(house, METER_A), "the meter's entities back")
    _wait_states(house, DONGLE, lambda: _dongle_expected(house), "the dongle's entities back")


def test_after_a_home_assistant_restart_the_states_come_back_without_errors(house):
    house.ha.restart()
    ours = [e["entity_id"] for e in list(_entities_of(house, "han_" + METER_A).values()) + list(_entities_of(house, DONGLE).values())]
    # back from the retained discovery and status; the power sensors have no state yet (not retained)
    wait_until(lambda: all(house.ha.states()[e]["state"] != "unavailable" for e in ours), 60, "our entities available again")
    # a list 1 first: the sensors it lacks, still without state, must not mind
    house.play("L1")
    _wait_states(house, "han_" + METER_A, lambda: {"active_power_import": _meter_expected(house, METER_A)["active_power_import"]},
                 "import power from the list 1")
    house.play("L2", "L3")
    _wait_states(house, "han_" + METER_A, lambda: _meter_expected(house, METER_A), "the meter's entities after the restart")
    _wait_states(house, DONGLE, lambda: _dongle_expected(house), "the dongle's entities after the restart")


def test_a_swapped_meter_replaces_the_old_one_and_its_energy_starts_afresh(house):
    old, new = "han_" + METER_A, "han_" + METER_B
    house.first_contact(METER_B, "B3", "B3")  # the new meter announced, and talking
    wait_until(lambda: not _entities_of(house, old), 30, "the old meter's entities removed")
    wait_until(lambda: not [d for d in house.ha.devices() if ["mqtt", old] in d["identifiers"]], 30, "the old meter's device removed")
    _wait_states(house, new, lambda: _meter_expected(house, METER_B), "the new meter's entities")
    assert set(_entities_of(house, new)) == {new + "_" + k for k in tuple(_meter_expected(house, METER_B)) + _ACC}
    devices = [d for d in house.ha.devices() if ["mqtt", new] in d["identifiers"]]
    assert len(devices) == 1 and devices[0]["name"] == "Kaifa meter " + METER_B
    # its registers are its own, not the old meter's from the retained energy message
    b3 = [json.loads(t) for t in house.rec.on(PREFIX + "/energy") if METER_B in t][-1]
    state = house.ha.states()["sensor.%s_active_energy_import" % new]["state"]
    assert float(state) == b3["active_energy_import"]
