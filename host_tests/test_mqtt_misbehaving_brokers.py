# test_mqtt_misbehaving_brokers.py Checks the whole firmware against brokers that misbehave: the meter is read, the page answers, and a good broker is reached after.
# The firmware runs on the unix port with host_tests/mpy_shims/socket.py, whose setblocking(True)
# waits forever as the ESP32's does (the unix port's own keeps an earlier timeout, and would let a
# client that hangs on a board pass here). Each broker of host_tests/bad_broker.py gets the firmware
# for at least two connect attempts; all the while every request for /api/status must be answered
# (the harness gives each 10 s), frames must go on being decoded and the loop (what feeds the
# watchdog) must move on between any two requests. Then mosquitto takes over the port, and the
# firmware must reconnect and publish.

import time

import pytest

from bad_broker import BadBroker
from harness import Broker, Firmware, Recorder, Replay, hourly_kaifa_frames, wait_until
from test_firmware_mqtt import PREFIX, _hanlog
from test_mqtt_security import certs  # noqa: F401  (the fixture: a CA and the broker's certificate for localhost)

_ATTEMPTS = 3  # connect attempts each bad broker gets to misbehave in

# mode, TLS, how the firmware must name the trouble (mqtt.error on the page)
CASES = [
    ("silent", False, "no answer from the broker"),
    ("stall", False, "no answer from the broker"),
    ("close", False, "the broker closed the connection"),
    ("no_puback", False, "no answer from the broker"),
    ("silent", True, "no answer from the broker"),
    ("stall", True, "no answer from the broker"),
]


def _misbehaved(bad):
    # enough: each mode's misbehaviour met on _ATTEMPTS connections
    if bad.mode == "silent":
        return bad.count("connections") >= _ATTEMPTS
    if bad.mode == "no_puback":
        return bad.count("qos1_publishes") >= _ATTEMPTS
    return bad.count("half_answers") >= _ATTEMPTS


def _watch(fw, done, timeout, what):
    # /api/status every half second until done(); returns the samples (each one answered)
    samples = []
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out after %d s waiting for %s; the firmware said:\n%s" % (timeout, what, fw.output()[-3000:])
        samples.append(fw.status())
        time.sleep(0.5)
    samples.append(fw.status())
    return samples


@pytest.mark.parametrize("mode, tls, says", CASES, ids=["%s%s" % (m, "-tls" if t else "") for m, t, _ in CASES])
def test_a_misbehaving_broker_never_stops_the_meter_being_read_and_a_good_one_is_reached_after(tmp_path, certs, mode, tls, says):  # noqa: F811
    cert = (str(certs / "server.crt"), str(certs / "server.key")) if tls else None
    bad = BadBroker(mode, tls=cert)
    mqtt = {"host": "127.0.0.1", "port": bad.port}
    if tls:
        mqtt.update(host="localhost", tls=True, ca_file=str(certs / "ca.crt"))
    # a Kaifa list 3 (power, and energy at QoS 1) every second, at the meter's own line rate: the UART
    # ring holds 8.5 s of it, so bytes are lost only if the loop stops for longer than that
    capture = tmp_path / "hourly.hanlog"
    _hanlog(capture, hourly_kaifa_frames(30), 1.0)
    replay = Replay(capture, speed=1, loop=True)
    fw = Firmware(tmp_path, {"mqtt": mqtt}, replay.port)
    good = rec = None
    try:
        samples = _watch(fw, lambda: _misbehaved(bad), 90, "the %s broker to be tried %d times" % (mode, _ATTEMPTS))
        assert len(samples) >= 3
        passes = [s["loop_passes"] for s in samples]
        assert all(b > a for a, b in zip(passes, passes[1:])), passes  # the loop never stopped between two requests
        assert samples[-1]["frames"]["ok"] > samples[0]["frames"]["ok"]
        assert samples[-1]["frames"]["bad_fcs"] == 0 and samples[-1]["uart"]["overflow"] == 0
        assert samples[-1]["loop_errors"] == 0
        last = fw.status()["mqtt"]
        assert last["state"] != "connected" or mode == "no_puback"
        assert any(says in (s["mqtt"]["error"] or "") for s in samples), [s["mqtt"]["error"] for s in samples]

        bad.stop()
        good = Broker(tmp_path, port=bad.port, tls=(str(certs / "ca.crt"),) + cert if tls else None)
        rec = Recorder(good.port, topics=(PREFIX + "/#",), ca=str(certs / "ca.crt") if tls else None,
                       host="localhost" if tls else "127.0.0.1")
        wait_until(lambda: len(rec.on(PREFIX + "/power")) >= 3, 90, "power messages through the good broker")
        wait_until(lambda: rec.on(PREFIX + "/energy"), 30, "an energy message through the good broker")
        wait_until(lambda: fw.status()["mqtt"]["energy_queued"] == 0, 30, "the energy queue to drain")
        status = fw.status()
        assert status["mqtt"]["state"] == "connected" and status["loop_errors"] == 0
        assert fw.proc.poll() is None
    finally:
        fw.kill()
        replay.stop()
        if rec:
            rec.close()
        if good:
            good.stop()
        else:
            bad.stop()
