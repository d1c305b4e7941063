# mqtt_login.py Provides login(): MQTT 3.1.1 CONNECT and its CONNACK for lib/mqtt_client.py's MQTTClient, once per connection.
# MIT license
#
# Needed once per connection, never in between: MQTTClient._login() imports it for the call and drops it.

from micropython import const

from mqtt_client import MQTTException, put_length

_CONNECT = const(0x10)
_CONNACK = const(0x20)


def login(c, clean_session):
    # CONNECT on the client c's socket, then CONNACK by the deadline; returns the session-present flag
    c._ping_unanswered = False
    n = 10 + 2 + len(c.client_id)
    flags = 0x02 if clean_session else 0
    if c.will:
        topic, msg, retain = c.will
        n += 2 + len(topic) + 2 + len(msg)
        flags |= 0x04 | (0x20 if retain else 0)  # will at QoS 0
    if c.user is not None:
        n += 2 + len(c.user)
        flags |= 0x80
        if c.password is not None:
            n += 2 + len(c.password)
            flags |= 0x40
    out = c._out
    out[0] = _CONNECT
    at = put_length(out, 1, n)
    out[at : at + 7] = b"\x00\x04MQTT\x04"  # protocol name and level 4 (3.1.1)
    out[at + 7] = flags
    out[at + 8] = c.keepalive >> 8
    out[at + 9] = c.keepalive & 0xFF
    c._write(out, at + 10)
    c._write_text(c.client_id)
    if c.will:
        c._write_text(topic)
        c._write_text(msg)
    if c.user is not None:
        c._write_text(c.user)
        if c.password is not None:
            c._write_text(c.password)

    c._start()
    op, n = c._read_header()
    if op != _CONNACK or n != 2:
        raise OSError("MQTT: the broker answered CONNECT with packet type 0x%02x" % op)
    c._read(c._two_mv, 2)
    if c._two[1]:
        raise MQTTException(c._two[1])
    return c._two[0] & 1  # session present
