# test_firmware32.py Checks the whole firmware on the 32-bit runtime: a replayed meter to mosquitto and the status page, with real sockets.

import json

import pytest

from harness import Recorder, Replay, wait_until
from harness32 import Firmware32, missing
from test_firmware_mqtt import KAIFA_METER, KAIFA_REPLAY, PREFIX
from test_status_page import _exchange


@pytest.fixture(autouse=True, scope="module")
def _runtime():
    # the 32-bit runtime is part of make test (make node-deps installs it): missing is a failure, not a skip
    if missing():
        pytest.fail(missing())


def test_the_firmware_publishes_the_meter_and_serves_its_page_on_the_32_bit_runtime(tmp_path, broker):
    rec = Recorder(broker.port, topics=(PREFIX + "/#",))
    replay = Replay(KAIFA_REPLAY, speed=10, loop=True)
    fw = Firmware32(tmp_path, {"mqtt": {"host": "127.0.0.1", "port": broker.port}, "meter": {"serial": "kaifa"}}, replay.port,
                    heapsize="192K", diag_s=5)
    try:
        wait_until(lambda: len(rec.on(PREFIX + "/power")) >= 10, 90, "power messages from the 32-bit firmware")
        wait_until(lambda: rec.on(PREFIX + "/energy"), 90, "the hourly list 3")
        wait_until(lambda: rec.on(PREFIX + "/diag"), 30, "a diag message")
        assert rec.on(PREFIX + "/status")[-1] == "online"
        assert json.loads(rec.on(PREFIX + "/meter")[-1])["meter_id"] == KAIFA_METER
        assert json.loads(rec.on(PREFIX + "/energy")[-1])["active_energy_import"] == 79591.144
        status = fw.status()
        assert status["mqtt"]["state"] == "connected" and status["diagnosis"]["code"] == "ok"
        assert status["frames"]["ok"] == status["decoder"]["decoded"] > 0 and status["frames"]["bad_fcs"] == 0
        assert status["power"]["list"] in (1, 2, 3) and status["meter"]["meter_id"] == KAIFA_METER
        assert len(status["history"]["net_power"]) == 180
        code, page = fw.get("/")
        assert code == 200 and page.rstrip().endswith(b"</html>")
        # the API is streamed in pieces: no Content-Length, its end is the close; HEAD gets the header alone
        head = _exchange(fw.http_port, b"HEAD /api/status HTTP/1.0\r\n\r\n")
        assert head.startswith(b"HTTP/1.0 200") and head.endswith(b"\r\n\r\n") and b"Content-Length" not in head
        assert _exchange(fw.http_port, b"GET /" + b"a" * 200 + b" HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 414")
        assert status["loop_errors"] == 0 and fw.grew() == []
    finally:
        fw.kill()
        replay.stop()
        rec.close()
