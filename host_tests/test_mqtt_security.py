# test_mqtt_security.py Checks MQTT with a password and TLS against mosquitto set up for both, certificates made here.

import subprocess

import pytest

from harness import Broker, Firmware, Recorder, Replay, wait_until
from test_firmware_mqtt import KAIFA_REPLAY, PREFIX

USER, PASSWORD = "dongle", "correct horse"


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    # a CA that signed the broker's certificate (for localhost), and another CA that did not
    d = tmp_path_factory.mktemp("certs")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=Test CA", cwd=d)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=d)
    (d / "ext").write_text("subjectAltName=DNS:localhost\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.crt", "-days", "2", "-extfile", "ext", cwd=d)
    _openssl("req", "-x509", *ec, "-keyout", "other.key", "-out", "other.crt", "-days", "2", "-subj", "/CN=Other CA", cwd=d)
    return d


@pytest.fixture
def secure_broker(tmp_path, certs):
    b = Broker(tmp_path, users={USER: PASSWORD}, tls=(str(certs / "ca.crt"), str(certs / "server.crt"), str(certs / "server.key")))
    yield b
    b.stop()


def _firmware(tmp_path, broker, replay, **mqtt):
    cfg = {"host": "localhost", "port": broker.port, "user": USER, "password": PASSWORD, "tls": True}
    cfg.update(mqtt)
    return Firmware(tmp_path, {"mqtt": cfg}, replay.port)


def test_password_and_tls_with_the_right_ca_publish(tmp_path, certs, secure_broker):
    rec = Recorder(secure_broker.port, user=USER, password=PASSWORD, ca=str(certs / "ca.crt"), host="localhost")
    replay = Replay(KAIFA_REPLAY, speed=25)
    fw = _firmware(tmp_path, secure_broker, replay, ca_file=str(certs / "ca.crt"))
    try:
        wait_until(lambda: len(rec.on(PREFIX + "/power")) >= 5, 60, "power messages over TLS")
        assert rec.on(PREFIX + "/status")[0] == "online"
        assert fw.status()["mqtt"]["state"] == "connected"
    finally:
        fw.kill()
        replay.stop()
        rec.close()


@pytest.mark.parametrize(
    "mqtt, says",
    [
        ({"password": "wrong"}, "refused the login"),
        ({"ca_file": "OTHER"}, "not trusted by mqtt.ca_file"),
    ],
)
def test_a_wrong_password_or_untrusted_certificate_is_named_and_retried_while_decoding_goes_on(tmp_path, certs, secure_broker, mqtt, says):
    mqtt = dict(mqtt)
    mqtt["ca_file"] = str(certs / ("other.crt" if mqtt.get("ca_file") == "OTHER" else "ca.crt"))
    replay = Replay(KAIFA_REPLAY, speed=25, loop=True)
    fw = _firmware(tmp_path, secure_broker, replay, **mqtt)
    try:
        wait_until(lambda: fw.output().count("mqtt: cannot connect") >= 2, 60, "two refused attempts")
        assert says in fw.output()
        status = fw.status()
        assert says in status["mqtt"]["error"] and status["mqtt"]["state"] != "connected"
        before = status["decoder"]["decoded"]
        wait_until(lambda: fw.status()["decoder"]["decoded"] > before + 5, 60, "decoding to go on")
        assert fw.proc.poll() is None and PASSWORD not in fw.output()
    finally:
        fw.kill()
        replay.stop()


def test_tls_without_a_usable_ca_file_keeps_mqtt_off_and_says_why(tmp_path, secure_broker):
    replay = Replay(KAIFA_REPLAY, speed=25, loop=True)
    fw = _firmware(tmp_path, secure_broker, replay, ca_file=str(tmp_path / "missing.crt"))
    try:
        wait_until(lambda: "cannot be used" in fw.output(), 30, "the CA file message")
        wait_until(lambda: fw.status()["decoder"]["decoded"] > 5, 60, "decoding")
        assert fw.status()["mqtt"]["state"] == "not configured"
    finally:
        fw.kill()
        replay.stop()
    fw = Firmware(tmp_path, {"mqtt": {"host": "localhost", "port": secure_broker.port, "tls": True}}, replay.port)
    try:
        assert "mqtt.ca_file: missing" in fw.output()
    finally:
        fw.kill()
