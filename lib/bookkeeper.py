# bookkeeper.py Provides Bookkeeper: the App's energy accounting: each message into the Ledger, its state on flash, its MQTT messages.
# MIT license
#
# Imported by lib/app.py only where the accounting runs (tariff.accounting, docs/accounting.md):
# its code, and the Ledger's, stay in RAM from the first message on, which a plain ESP32's heap
# has no room for yet (docs/firmware.md, Memory).

import json
from micropython import const

import clock
import acct_json
from ledger import Ledger
from tariff import parse_kw

_SAVE_S = const(3600)  # the state goes to flash at each completed hour, else at most this often


class Bookkeeper:
    def __init__(self, cfg, mqtt, path, log):
        self.mqtt = mqtt
        self.path = path
        self.ledger = Ledger([parse_kw(v) for v in cfg["tariff.thresholds_kw"]], cfg["tariff.rule"] == "single_hour", self._on_hour)
        why = self.ledger.load(path)
        log("accounting: " + (why or "state of %s taken" % path))
        self.saved_s = clock.seconds()
        self.saved_hour = self._point_hour()  # the hour of the register boundary in the state on flash

    def reading(self, rd):
        # the message into the accounting (after the decode: its allocation is not on the UART path)
        self.ledger.reading(rd, clock.seconds())
        point = self._point_hour()
        if point != self.saved_hour or clock.seconds() - self.saved_s >= _SAVE_S:  # a new hour's register, or an hour passed
            self.saved_hour = point
            self.saved_s = clock.seconds()
            self.ledger.save(self.path)
        if rd.list_number() > 1:  # every 10 s on all Norwegian meters (list 1 comes every 2 s on some)
            tot = self.totals()
            self.mqtt.accounting("".join(acct_json.live(self.ledger, tot, meter_id=self._meter_id())),
                                 None if tot is None else acct_json.totals_json(tot, self._meter_id()))

    def status(self):
        # the pieces of /api/status' "accounting"
        return acct_json.live(self.ledger, self.totals(), hours=True)

    def totals(self):
        # the running totals, once they are known not to go back as published: None before
        return self.ledger.acc.totals() if self.mqtt.totals_checked else None

    def read_back(self, text):
        # the totals this firmware published last (retained), read back at the first connection: the
        # running totals never go below them. Another meter's are not this one's.
        got = acct_json.read_totals(text)
        if got is None or got[2] is not None and self._meter_id() not in (None, got[2]):
            return
        shown = self.ledger.acc.shown
        shown[0] = max(shown[0], got[0])
        shown[1] = max(shown[1], got[1])

    def _on_hour(self, start, imp, exp, estimated):
        # a completed clock hour, from inside ledger.reading()
        text = self.ledger.hour_json(start, imp, exp, estimated)
        self.mqtt.hour('%s, "meter_id": %s}' % (text[:-1], json.dumps(self._meter_id())))

    def _point_hour(self):
        p = self.ledger.acc.point
        return None if p is None else p[0] // 3600

    def _meter_id(self):
        m = self.mqtt.meter
        return m.get("meter_id") if m else None
