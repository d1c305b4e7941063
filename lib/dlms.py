# dlms.py Provides Decoder: DLMS/COSEM data-notification APDUs into a Reading, with counters.
# MIT license
#
# Framing (hdlc.py) hands over whole APDUs; this module reads the notification header and picks
# the maker layout. Ciphered APDUs are counted here and left for a security module.

from micropython import const
from counter import add
from axdr import Walker, OK, MALFORMED, UNKNOWN, ARRAY, STRUCTURE, OCTET_STRING, VISIBLE_STRING
from reading import Reading
from obis import field
import meter_aidon
import meter_kaifa
import meter_kamstrup

_DATA_NOTIFICATION = const(0x0F)
_GENERAL_GLO_CIPHERING = const(0xDB)
_GENERAL_DED_CIPHERING = const(0xDC)
_GENERAL_BLOCK_TRANSFER = const(0xE0)

_VER = field("list_ver_id")

# list id prefix -> maker, for the layouts several makers share
_MAKERS = ((b"AIDON", "Aidon"), (b"KFM", "Kaifa"), (b"Kamstrup", "Kamstrup"), (b"EMBRIQ", "Landis+Gyr"))


class Decoder:
    def __init__(self, on_reading=None, kamstrup_energy_in_wh=False):
        self.reading = Reading()
        self.kamstrup_energy_in_wh = kamstrup_energy_in_wh
        self._on_reading = on_reading  # called with the Reading after each good decode
        self._wk = Walker()
        self.decoded = 0  # counters wrap at 2**30 (counter.py): small ints on the ESP32
        self.malformed = 0
        self.unknown = 0  # layouts or APDU types this decoder does not know
        self.encrypted = 0
        self.last_unknown_tag = -1  # APDU tag, or 0x0F with the list below, of the last unknown
        self.last_unknown_items = 0
        self.last_unknown_list = bytearray(32)
        self.last_unknown_list_len = 0

    def apdu(self, buf, start, end):
        # decode one APDU in buf[start:end]; returns OK, MALFORMED or UNKNOWN
        wk = self._wk
        rd = self.reading
        rd.clear()
        wk.reset(buf, start, end)
        tag = wk.byte()
        if tag == _DATA_NOTIFICATION:
            status = self._notification(wk, rd)
        elif tag == _GENERAL_GLO_CIPHERING or tag == _GENERAL_DED_CIPHERING:
            self.encrypted = add(self.encrypted, 1)
            return UNKNOWN
        else:
            status = UNKNOWN
        if status == OK:
            self.decoded = add(self.decoded, 1)
            if rd.present[_VER]:
                _name_maker(rd)
            if self._on_reading is not None:
                self._on_reading(rd)
        elif status == MALFORMED:
            self.malformed = add(self.malformed, 1)
        else:
            self.unknown = add(self.unknown, 1)
            self._remember_unknown(tag, rd)
        return status

    def _notification(self, wk, rd):
        if not wk.skip_content(0x06, 0):  # long-invoke-id-and-priority: 4 bytes, meaningless here
            return MALFORMED
        b = wk.byte()  # date-time: 00 absent, 0C + 12 bytes, or typed 09 0C + 12 bytes
        if b == OCTET_STRING:
            b = wk.byte()
        if b == 12:
            r = wk.datetime(rd.notification_clock)
            if r < 0:
                return MALFORMED
            rd.has_notification_clock = r > 0
        elif b != 0:
            return MALFORMED
        tag = wk.byte()
        n = wk.length()
        if n < 0:
            return MALFORMED
        rd.items = n
        if tag == ARRAY:
            return meter_aidon.decode(wk, rd, n)
        if tag != STRUCTURE or wk.pos + 1 >= wk.end:
            return UNKNOWN
        first = wk.buf[wk.pos]
        if first == VISIBLE_STRING:
            return meter_kamstrup.decode(wk, rd, n, self.kamstrup_energy_in_wh)
        if first == OCTET_STRING and wk.buf[wk.pos + 1] == 6:
            return meter_kaifa.decode_pairs(wk, rd, n)
        return meter_kaifa.decode(wk, rd, n)

    def _remember_unknown(self, tag, rd):
        self.last_unknown_tag = tag
        self.last_unknown_items = rd.items
        n = rd.text_len[_VER] if rd.present[_VER] else 0
        t = rd.text[_VER]
        for i in range(n):
            self.last_unknown_list[i] = t[i]
        self.last_unknown_list_len = n

    def counters(self):
        # allocates: for status pages and logs
        return {"decoded": self.decoded, "malformed": self.malformed, "unknown": self.unknown, "encrypted": self.encrypted}


def _name_maker(rd):
    t = rd.text[_VER]
    n = rd.text_len[_VER] if rd.present[_VER] else 0
    for prefix, maker in _MAKERS:
        m = len(prefix)
        if n >= m:
            i = 0
            while i < m and t[i] == prefix[i]:
                i += 1
            if i == m:
                rd.manufacturer = maker
                return
