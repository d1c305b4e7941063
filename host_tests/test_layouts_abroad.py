# test_layouts_abroad.py Checks the corpus' meters from abroad (Austria, Poland, Slovenia) decode to the values their records give, the encrypted ones with their published keys.
# Shared: runs under pytest and under MicroPython (mpy_runner.py).
#
# Against what: a record's `readoff` (the corpus' own byte-level decode: OBIS-keyed with raw value
# and scaler where the frame has OBIS codes, else the positional `elements`), or its `expected` where
# that is the read-off. The meaning of each position in the OBIS-less lists comes from the corpus
# notes and ../shared/docs/protocol.md (cited at each table). Units are converted here, explicitly:
# the JSON has W, var, V, A and kWh/kvarh, the records raw integers with their power of ten, in Wh.

import sys
import gc
import json
import micropython
from binascii import unhexlify, hexlify
from dlms import Decoder
from hdlc import Assembler
from corpus import records, Pipeline, hdlc_frame

# readoff OBIS "A-B:C.D.E.F" -> our field
_OBIS = {
    "0-0:1.0.0.255": "meter_datetime", "0-0:96.1.0.255": "meter_id",
    "1-0:1.7.0.255": "active_power_import", "1-0:2.7.0.255": "active_power_export",
    "1-0:31.7.0.255": "current_l1", "1-0:51.7.0.255": "current_l2", "1-0:71.7.0.255": "current_l3",
    "1-0:32.7.0.255": "voltage_l1", "1-0:52.7.0.255": "voltage_l2", "1-0:72.7.0.255": "voltage_l3",
    "1-0:13.7.0.255": "power_factor",
    "1-0:1.8.0.255": "active_energy_import", "1-0:2.8.0.255": "active_energy_export",
    "1-0:3.8.0.255": "reactive_energy_import", "1-0:4.8.0.255": "reactive_energy_export",
}
_SKIPPED_OBIS = ("0-0:42.0.0.255",)  # the logical device name: no field of its own
_KWH = -3  # a record's Wh or varh is 10**-3 of our kWh or kvarh

# positional lists: element index -> (field, power of ten of the element in our unit)
_LG_BURGENLAND = {  # corpus notes of enc-lg-ams-gh501-1 (README order), protocol.md 5.4
    0: ("voltage_l1", 0), 1: ("voltage_l2", 0), 2: ("voltage_l3", 0),
    3: ("current_l1", -2), 4: ("current_l2", -2), 5: ("current_l3", -2),
    6: ("active_power_import", 0), 7: ("active_power_export", 0),
    8: ("active_energy_import", _KWH), 9: ("active_energy_export", _KWH), 13: ("meter_id", None)}
_ISK_KAERNTEN = {  # corpus notes of enc-isk-ams-gh787-1: id, meter number, time, date, 1.8.0 2.8.0 3.8.0 4.8.0, 1.7.0 2.7.0
    1: ("meter_id", None), 4: ("active_energy_import", _KWH), 5: ("active_energy_export", _KWH),
    6: ("reactive_energy_import", _KWH), 7: ("reactive_energy_export", _KWH),
    8: ("active_power_import", 0), 9: ("active_power_export", 0)}
_ISK_SI_INSTANT = {  # 18 items: 42.0.0, 96.1.2, P+ P- Q+ Q-, U1-3 (0.1 V), I1-3 (0.01 A), P+ L1-3, P- L1-3
    0: ("meter_id", None), 2: ("active_power_import", 0), 3: ("active_power_export", 0),
    4: ("reactive_power_import", 0), 5: ("reactive_power_export", 0),
    6: ("voltage_l1", -1), 7: ("voltage_l2", -1), 8: ("voltage_l3", -1),
    9: ("current_l1", -2), 10: ("current_l2", -2), 11: ("current_l3", -2),
    12: ("active_power_import_l1", 0), 13: ("active_power_import_l2", 0), 14: ("active_power_import_l3", 0),
    15: ("active_power_export_l1", 0), 16: ("active_power_export_l2", 0), 17: ("active_power_export_l3", 0)}
_ISK_SI_ENERGY = {  # 12 items: 42.0.0, 96.1.3, 96.3.10, 96.14.0, 1.8.0-2, 2.8.0-2, 3.8.0, 4.8.0
    0: ("meter_id", None), 4: ("active_energy_import", _KWH), 5: ("active_energy_import_t1", _KWH),
    6: ("active_energy_import_t2", _KWH), 7: ("active_energy_export", _KWH),
    8: ("active_energy_export_t1", _KWH), 9: ("active_energy_export_t2", _KWH),
    10: ("reactive_energy_import", _KWH), 11: ("reactive_energy_export", _KWH)}
_ISK_SI_SHORT = {  # 9 items: 42.0.0, 96.1.2, P+ P- Q+ Q-, U1 (0.1 V), two unexplained
    0: ("meter_id", None), 2: ("active_power_import", 0), 3: ("active_power_export", 0),
    4: ("reactive_power_import", 0), 5: ("reactive_power_export", 0), 6: ("voltage_l1", -1)}
_ISK_SI_REGISTER = {2: ("active_energy_import", _KWH)}  # 4 items: serial, a byte, the total import register, ?

_POSITIONAL = {
    "enc-lg-ams-gh501-1": ("Landis+Gyr", _LG_BURGENLAND), "enc-lg-ams-gh501-2": ("Landis+Gyr", _LG_BURGENLAND),
    "enc-isk-ams-gh787-1": ("Iskraemeco", _ISK_KAERNTEN),
    "isk-ams-gh956-1": ("Iskraemeco", _ISK_SI_INSTANT), "isk-ams-gh615-1": ("Iskraemeco", _ISK_SI_INSTANT),
    "isk-ams-gh956-2": ("Iskraemeco", _ISK_SI_ENERGY), "isk-ams-gh869-1": ("Iskraemeco", _ISK_SI_SHORT),
    "isk-ams-gh869-3": ("Iskraemeco", _ISK_SI_REGISTER),
}
# OBIS-keyed records, and the maker the body names (Sagemcom's names none)
_REGISTERS = {"enc-kaifa-ams-gh905-1": "Kaifa", "enc-kaifa-tirol-example": "Kaifa", "mbus-sag-ams-gh867-1": None}


def _keys(r):
    k = r["key"]
    ak = k.get("authentication_key")
    return unhexlify(k["encryption_key"]), (unhexlify(ak) if ak else None)


def _mbus_payload(data):
    # the DLMS bytes of concatenated M-Bus long frames (68 L L 68 C A CI STSAP DTSAP ... CS 16);
    # M-Bus framing is lib/mbus.py's subject, not this test's
    out = bytearray()
    i = 0
    while i < len(data):
        n = data[i + 1]
        out += data[i + 9 : i + 4 + n]
        i += n + 6
    return out


def _decode(r, key=True):
    # (messages, decoder) for one record: HDLC frames through the assembler, M-Bus payloads
    # straight to Decoder.apdu; with the published key when the record has one
    keys = _keys(r) if key and "key" in r else (None, None)
    if r["framing"] == "hdlc":
        p = Pipeline(key=keys[0], auth_key=keys[1]).feed(r["bytes"])
        return p.messages, p.decoder
    messages = []
    d = Decoder(lambda rd: messages.append(json.loads(rd.json())), key=keys[0], auth_key=keys[1])
    apdu = _mbus_payload(r["bytes"]) if "key" in r else bytearray(unhexlify(r["decrypted_apdu_hex"]))
    d.apdu(apdu, 0, len(apdu))
    return messages, d


def _same(got, raw, exp):
    # got (from the JSON text) is raw * 10**exp exactly, up to the float the JSON parser made
    if exp >= 0:
        return got == raw * 10**exp
    return round(got * 10**-exp) == raw and abs(got * 10**-exp - raw) < 1e-6


def _check(rid, got, want, maker):
    # want: field -> (raw, exp) or a string; got must hold exactly these, and the identity keys
    for name, v in want.items():
        assert name in got, (rid, name)
        if isinstance(v, str):
            assert got[name] == v, (rid, name, got[name], v)
        else:
            assert _same(got[name], v[0], v[1]), (rid, name, got[name], v)
    extra = set(got) - set(want) - {"list", "meter_datetime", "meter_manufacturer"}
    assert not extra, (rid, extra)
    assert got.get("meter_manufacturer") == maker, (rid, got.get("meter_manufacturer"))


def _readoff(r):
    return r.get("readoff") or r["expected"]


def test_positional_lists_of_landis_gyr_and_iskraemeco_decode_to_their_elements():
    recs = [r for r in records("encrypted", "other_hdlc") if r["id"] in _POSITIONAL]
    assert len(recs) == len(_POSITIONAL)
    for r in recs:
        messages, d = _decode(r)
        assert len(messages) == 1 and d.decoded == 1, r["id"]
        maker, table = _POSITIONAL[r["id"]]
        elements = _readoff(r)["elements"]
        want = {}
        for i, (name, exp) in table.items():
            want[name] = elements[i] if exp is None else (elements[i], exp)
        got = messages[0]
        _check(r["id"], got, want, maker)
        assert got["meter_datetime"] == _readoff(r)["apdu_datetime"]["datetime"], r["id"]


def test_obis_registers_of_kaifa_ma309_and_sagemcom_decode_with_their_scalers():
    recs = [r for r in records("encrypted", "mbus") if r["id"] in _REGISTERS]
    assert len(recs) == len(_REGISTERS)
    for r in recs:
        messages, d = _decode(r)
        assert len(messages) == 1 and d.decoded == 1, r["id"]
        want = {}
        for code, v in _readoff(r)["obis"].items():
            if code in _SKIPPED_OBIS:
                continue
            name = _OBIS[code]
            if name == "meter_datetime":
                want[name] = v["datetime"]
            elif isinstance(v, str):
                want[name] = v
            else:  # raw * 10**scaler in the record's unit; Wh and varh become kWh and kvarh
                want[name] = (v["raw"], v["scaler"] + (_KWH if v["unit"] in ("Wh", "varh") else 0))
        if r["id"] == "mbus-sag-ams-gh867-1":
            want["meter_id"] = "178210128502"  # the body's last element (not in the readoff): protocol.md 6.3
        _check(r["id"], messages[0], want, _REGISTERS[r["id"]])


def test_sagemcom_agrees_with_the_sources_own_decode():
    # expected: amsreader's regression values (V, A, W, kWh), for the same APDU
    r = [r for r in records("mbus") if r["id"] == "mbus-sag-ams-gh867-1"][0]
    got = _decode(r)[0][0]
    e = r["expected"]
    assert (got["voltage_l1"], got["voltage_l2"], got["voltage_l3"]) == (e["l1v"], e["l2v"], e["l3v"])
    assert (got["current_l1"], got["current_l2"], got["current_l3"]) == (e["l1a"], e["l2a"], e["l3a"])
    assert got["active_power_export"] == e["activeExport"] and got["active_energy_import"] == e["importCounter"]


def test_kaifa_ma309_flat_registers_of_netz_noe_decode():
    # gh247-1 is no wire frame: the source's buffer with the plaintext where the ciphertext was,
    # after a 26-byte M-Bus and cipher header and before 'ED 16'. Its flat body (date-time, then
    # OBIS, value, scaler-unit as loose elements) is the Netz NOE one of protocol.md 6.3.
    r = [r for r in records("mbus") if r["id"] == "mbus-kaifa-ams-gh247-1"][0]
    plain = bytearray(r["bytes"][26:-2])
    messages = []
    d = Decoder(lambda rd: messages.append(json.loads(rd.json())))
    d.apdu(plain, 0, len(plain))
    m = messages[0]
    assert m["active_energy_import"] == 2590.324 and m["active_energy_export"] == 8538.254  # Wh in the frame
    assert m["active_power_export"] == 4863 and m["voltage_l2"] == 237.5 and m["current_l1"] == 6.91
    assert m["power_factor"] == 0.999 and m["meter_datetime"] == "2022-03-15T10:06:40"


def test_encrypted_frames_from_abroad_need_their_key_and_a_wrong_one_is_reported():
    for r in records("encrypted"):
        messages, d = _decode(r, key=False)
        assert messages == [] and d.no_key == 1 and d.wrong_key == 0, r["id"]
        key, auth_key = _keys(r)
        bad = bytearray(key)
        bad[0] ^= 1
        r2 = dict(r)
        r2["key"] = {"encryption_key": hexlify(bad).decode()}
        if auth_key:
            r2["key"]["authentication_key"] = hexlify(auth_key).decode()
        messages, d = _decode(r2)
        assert messages == [] and d.wrong_key == 1 and d.decoded == d.malformed == d.unknown == 0, r["id"]


def test_a_lone_first_segment_waits_for_its_continuation():
    # isk-ams-gh1072-1 (Iskraemeco IE.5, Croatia) is the first of two HDLC segments; the second was
    # never published with its HDLC header, so nothing is decoded and nothing is miscounted
    r = [r for r in records("other_hdlc") if r["id"] == "isk-ams-gh1072-1"][0]
    p = Pipeline().feed(r["bytes"])
    d = p.decoder
    assert p.assembler.frames_ok == 1 and p.messages == []
    assert d.decoded == d.malformed == d.unknown == 0


def test_decoding_the_layouts_from_abroad_allocates_nothing_under_heap_lock():
    # every record above: HDLC frames (M-Bus payloads wrapped in one) through an assembler, which
    # copies, so the ciphertext is there again for the second round; plaintexts straight in
    paths = []
    for r in records("encrypted", "other_hdlc", "mbus"):
        if r["id"] not in _POSITIONAL and r["id"] not in _REGISTERS:
            continue
        key, auth_key = _keys(r) if "key" in r else (None, None)
        d = Decoder(key=key, auth_key=auth_key)
        if "key" not in r and r["framing"] == "mbus":
            paths.append((None, d, bytearray(unhexlify(r["decrypted_apdu_hex"]))))
            continue
        data = r["bytes"] if r["framing"] == "hdlc" else hdlc_frame(b"\xe6\xe7\x00" + _mbus_payload(r["bytes"]))
        paths.append((Assembler(d.apdu), d, bytearray(data)))

    def run():
        for a, d, data in paths:
            if a is None:
                d.apdu(data, 0, len(data))
            else:
                a.feed(data, len(data))

    run()
    if sys.implementation.name == "micropython":
        gc.collect()
        before = gc.mem_alloc()
        micropython.heap_lock()
        try:
            run()
        finally:
            micropython.heap_unlock()
        assert gc.mem_alloc() == before
    else:
        run()
    assert all(d.decoded == 2 and d.malformed == d.unknown == 0 for _, d, _ in paths)
    assert len(paths) == len(_POSITIONAL) + len(_REGISTERS)
