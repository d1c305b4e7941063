# dlms.py Provides Decoder: DLMS/COSEM data-notification APDUs into a Reading, with counters.
# MIT license
#
# Framing (hdlc.py) hands over whole APDUs; this module reads the notification header and picks
# the maker layout. A ciphered APDU is decrypted in place by gcm.py when a key is set, then read
# as a plain one.

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
    def __init__(self, on_reading=None, kamstrup_energy_in_wh=False, key=None, auth_key=None):
        # key, auth_key: the meter's AES-128-GCM keys, 16 bytes each (auth_key: tags are checked)
        self.reading = Reading()
        self.kamstrup_energy_in_wh = kamstrup_energy_in_wh
        self._on_reading = on_reading  # called with the Reading after each good decode
        self._wk = Walker()
        self.decoded = 0  # counters wrap at 2**30 (counter.py): small ints on the ESP32
        self.malformed = 0
        self.unknown = 0  # layouts or APDU types this decoder does not know
        self.encrypted = 0  # ciphered APDUs received; of these, dropped because:
        self.no_key = 0  # no key is set
        self.wrong_key = 0  # the tag did not match, or the plaintext is no data-notification
        self.cipher = None
        if key is not None:
            from gcm import Gcm  # only where a key is set: Norwegian meters never pay for it

            self.cipher = Gcm(key, auth_key)
        self.blocks = None  # gbt.Blocks, made at the first general-block-transfer block
        self.last_unknown_tag = -1  # APDU tag, or 0x0F with the list below, of the last unknown
        self.last_unknown_items = 0
        self.last_unknown_list = bytearray(32)
        self.last_unknown_list_len = 0

    def apdu(self, buf, start, end):
        # decode one APDU in buf[start:end]; returns OK, MALFORMED or UNKNOWN. buf must be writable
        # (the assembler's bytearray): a ciphered APDU is decrypted where it lies
        wk = self._wk
        rd = self.reading
        rd.clear()
        wk.reset(buf, start, end)
        tag = wk.byte()
        if tag == _GENERAL_BLOCK_TRANSFER:
            if self.blocks is None:  # made at the first block: meters that never send blocks never pay for it
                from gbt import Blocks

                self.blocks = Blocks()
            return self.blocks.take(self, buf, start, end)
        if tag == _GENERAL_GLO_CIPHERING or tag == _GENERAL_DED_CIPHERING:
            self.encrypted = add(self.encrypted, 1)
            if self.cipher is None:
                self.no_key = add(self.no_key, 1)
                return UNKNOWN
            status = self.cipher.decipher(self, buf, start, end)  # gcm.py: its code loads only with a key
            if status != OK:
                return status
            tag = wk.byte()  # the walker stands on the plaintext
        if tag == _DATA_NOTIFICATION:
            status = self._notification(wk, rd)
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
        if not _kaifa(wk, n):
            status = _abroad(wk, rd, n)
            if status != UNKNOWN:
                return status
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
        return {"decoded": self.decoded, "malformed": self.malformed, "unknown": self.unknown, "encrypted": self.encrypted,
                "no_key": self.no_key, "wrong_key": self.wrong_key}


def _kaifa(wk, n):
    # whether a structure body is Kaifa's Norwegian or Swedish one: P+ alone (list 1), or the list
    # id "KFM..." first, bare or after its OBIS code 0.2.129
    b = wk.buf
    p = wk.pos
    if n == 1:
        return True
    if p + 8 <= wk.end and b[p] == OCTET_STRING and b[p + 1] == 6 and b[p + 4] == 0 and b[p + 5] == 2 and b[p + 6] == 129:
        p += 8
    return p + 5 <= wk.end and b[p] == OCTET_STRING and b[p + 2] == 0x4B and b[p + 3] == 0x46 and b[p + 4] == 0x4D


def _abroad(wk, rd, n):
    # the layouts of meters outside Norway, imported when the first such body comes (one time
    # only): Norwegian meters never pay the RAM they take (docs/firmware.md, "Memory")
    import meter_positional
    import meter_registers

    status = meter_positional.decode(wk, rd, n)  # OBIS-less lists known by their element types
    if status == UNKNOWN and meter_registers.fits(wk):
        status = meter_registers.decode(wk, rd, n)
    return status


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
