# test_decoder_corpus.py Checks every real Norwegian-maker frame in the corpus decodes to the right values.
# Shared: runs under pytest and under the MicroPython unix port (mpy_runner.py).

import json
from corpus import records, good_hdlc, Pipeline, _DIR

# Swedish Kamstrup meters send energy in Wh under the same list id as the Norwegian 10 Wh ones
_SWEDISH_KAMSTRUP = ("kamstrup-ams-gh239-2",)


def _expected():
    with open(_DIR + "expected.json") as f:
        return json.load(f)


def _decode(r):
    p = Pipeline(kamstrup_energy_in_wh=r["id"] in _SWEDISH_KAMSTRUP)
    if r["framing"] == "hdlc":
        p.feed(r["bytes"])
    else:  # LLC PDU only: the source never published the HDLC wrapper, so skip E6 E7 00
        p.decoder.apdu(r["bytes"], 3, len(r["bytes"]))
    return p


def _check(r, expected):
    p = _decode(r)
    assert len(p.messages) == 1, r["id"]
    got = p.messages[0]
    want = expected[r["id"]]
    for name in want:
        assert got.get(name) == want[name], "%s %s: got %r, want %r" % (r["id"], name, got.get(name), want[name])
    assert sorted(got) == sorted(want), r["id"]


def test_every_crc_valid_aidon_frame_decodes_to_its_values():
    expected = _expected()
    for r in good_hdlc("aidon"):
        _check(r, expected)


def test_every_crc_valid_kaifa_frame_decodes_to_its_values():
    expected = _expected()
    for r in good_hdlc("kaifa"):
        _check(r, expected)


def test_every_crc_valid_kamstrup_frame_decodes_to_its_values():
    expected = _expected()
    for r in good_hdlc("kamstrup"):
        _check(r, expected)


def test_llc_only_frames_decode_when_fed_past_the_assembler():
    expected = _expected()
    llc = [r for r in records("aidon", "kaifa", "kamstrup") if r["framing"] == "llc"]
    assert len(llc) == 10
    for r in llc:
        _check(r, expected)


def test_aidon_list3_scaling_signs_strings_and_clock():
    r = [r for r in good_hdlc("aidon") if r["id"] == "aidon-ams-gh1119-1"][0]
    m = _decode(r).messages[0]
    assert m["meter_manufacturer"] == "Aidon" and m["meter_type"] == "6534" and m["list"] == 3
    assert m["meter_id"] == "7359992890497997"
    assert m["meter_datetime"] == "2025-12-14T16:00:00"
    assert m["active_power_import"] == 4027 and m["reactive_power_export"] == 472
    assert m["current_l3"] == 16.8 and m["voltage_l3"] == 231.1  # scaler -1 in the frame
    assert m["active_energy_import"] == 109552.25  # 10955225 * 10 Wh (scaler +1)


def test_kaifa_positional_lists_use_maker_scaling():
    r = [r for r in good_hdlc("kaifa") if r["id"] == "kaifa-ams-gh493-1"][0]
    m = _decode(r).messages[0]
    assert m["list"] == 2 and m["meter_type"] == "MA304H3E"
    assert m["current_l1"] == 7.087  # mA in the frame
    assert m["voltage_l1"] == 236.7 and m["voltage_l2"] == 0  # IT grid: U2 not measured
    assert m["meter_datetime"] == "2023-03-22T03:28:50"  # from the notification header (09 0C form)
    r = [r for r in good_hdlc("kaifa") if r["id"] == "kaifa-ams-gh493-2"][0]
    m = _decode(r).messages[0]
    assert m == {"meter_manufacturer": "Kaifa", "list": 1, "meter_datetime": "2023-03-22T03:28:42", "active_power_import": 2277}


def test_kamstrup_pairs_use_maker_scaling_and_nve_energy_unit():
    r = [r for r in good_hdlc("kamstrup") if r["id"] == "kamstrup-ams-em001-1"][0]
    m = _decode(r).messages[0]
    assert m["list_ver_id"] == "Kamstrup_V0001" and m["meter_type"] == "6841131BN243101040"
    assert m["current_l1"] == 1.89 and m["voltage_l1"] == 236
    assert m["active_energy_import"] == 85823.28  # 8582328 * 10 Wh
    assert m["meter_datetime"] == "2021-11-25T23:00:55"  # the clock object (0C form in the header too)


def test_kamstrup_energy_in_wh_option_for_swedish_meters():
    r = [r for r in good_hdlc("kamstrup") if r["id"] == "kamstrup-ams-gh239-2"][0]
    assert Pipeline().feed(r["bytes"]).messages[0]["active_energy_import"] == 320141.58
    assert Pipeline(kamstrup_energy_in_wh=True).feed(r["bytes"]).messages[0]["active_energy_import"] == 32014.158


def test_kamstrup_one_phase_null_placeholders_are_skipped():
    r = [r for r in records("kamstrup") if r["id"] == "kamstrup-amshan-llc-doc-ex3"][0]
    m = _decode(r).messages[0]
    assert "current_l2" not in m and "voltage_l3" not in m
    assert m["current_l1"] == 0 and m["active_energy_import"] == 0 and m["list"] == 3


def test_numbers_are_exact_decimals_in_the_json_text():
    for rid, texts in (
        ("kaifa-ams-gh180-2", ('"current_l1": 12.056', '"voltage_l2": 0.0', '"voltage_l1": 239.2')),
        ("aidon-ams-gh1119-1", ('"active_energy_import": 109552.25', '"active_energy_export": 0.00')),
        ("kamstrup-ams-gh216-1", ('"reactive_energy_import": 1445173.10', '"current_l2": 939.55')),
    ):
        r = [r for r in good_hdlc("aidon", "kaifa", "kamstrup") if r["id"] == rid][0]
        p = Pipeline()
        text = []
        p.decoder._on_reading = lambda rd: text.append(rd.json())
        p.feed(r["bytes"])
        for t in texts:
            assert t in text[0], (rid, t)


def test_negative_fixtures_are_rejected_counted_and_lose_nothing_after_them():
    negatives = [r for r in records("aidon", "kaifa", "kamstrup") if r.get("negative_fixture")]
    assert len(negatives) == 4
    good = good_hdlc("aidon")[0]
    expected = _expected()[good["id"]]
    for r in negatives:
        p = Pipeline().feed(r["bytes"] + good["bytes"])
        a = p.assembler
        assert a.frames_ok == 1 and a.bad_fcs == 1, r["id"]
        assert p.messages == [expected], r["id"]  # only the broken frame is lost


def test_unknown_layouts_are_counted_with_their_list_id():
    # the Swiss and Slovenian Landis+Gyr lists are not known yet (the Iskraemeco ones of other_hdlc
    # are: test_layouts_abroad.py)
    p = Pipeline()
    for r in good_hdlc("landisgyr"):
        p.feed(r["bytes"])
    d = p.decoder
    assert p.messages == []
    blocks = [r for r in good_hdlc("landisgyr") if "Block Transfer" in r["notes"]]  # 3 of a message, 2 of one cut short
    assert len(blocks) == 5 and d.blocks.blocks == 5
    assert d.unknown == len(good_hdlc("landisgyr")) - 5 + 1 and d.malformed == 0  # the joined message is one
    r = [r for r in good_hdlc("landisgyr") if r["id"] == "lg-ams-em-si2026-1"][0]
    p = Pipeline().feed(r["bytes"])
    name = bytes(p.decoder.last_unknown_list[: p.decoder.last_unknown_list_len])
    assert name == b"999999999999" and p.decoder.last_unknown_tag == 0x0F


def test_encrypted_frames_are_counted_not_decoded():
    p = Pipeline()
    for r in records("encrypted"):
        if r["framing"] == "hdlc" and r["crc_ok"]:
            p.feed(r["bytes"])
    assert p.messages == [] and p.decoder.encrypted == 3
