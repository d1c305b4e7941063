# test_uart_irq.py Checks the firmware on a UART whose IRQ never runs (MicroPython v1.24.0-v1.25.0 with rxbuf=): it says so, polls, and decodes.
# firmware/main.py on the unix port with host_tests/mpy_machine, whose machine.UART takes the meter's bytes from
# tools/replay.py and holds them in its "driver" (any()), and whose irq() accepts a handler it never calls.

import json
import os
import subprocess
import urllib.request

from harness import MICROPYTHON, ROOT, Replay, answers, free_port, wait_until
from test_firmware_mqtt import KAIFA_REPLAY

MPY_MACHINE = os.path.join(ROOT, "host_tests", "mpy_machine")


def _status(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/api/status" % port, timeout=10) as r:
        return json.loads(r.read())


def test_an_irq_that_never_runs_is_noticed_and_the_uart_is_polled_instead(tmp_path):
    boards = tmp_path / "boards"
    boards.mkdir()
    with open(os.path.join(ROOT, "boards", "host.json")) as f:
        profile = json.load(f)
    profile["uart"] = {"id": 2, "rx": 16, "tx": None, "invert_rx": False}  # machine.UART, as on a DevKitC
    (boards / "host.json").write_text(json.dumps(profile))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"board": "host", "mqtt": {"host": "127.0.0.1", "port": free_port()}, "meter": {"serial": "kaifa"}}))
    replay = Replay(KAIFA_REPLAY, speed=10, loop=True)
    http = free_port()
    env = dict(os.environ, MICROPYPATH=":".join([MPY_MACHINE, os.path.join(ROOT, "lib")]),
               HAN_CONFIG=str(config), HAN_BOARDS=str(boards), HAN_UART="127.0.0.1:%d" % replay.port, HAN_DEVICE_ID="test",
               HAN_STATE_DIR=str(tmp_path), HAN_HTTP_PORT=str(http), HAN_GRACE_S="0")
    log = tmp_path / "firmware.log"
    with open(log, "w") as out:
        fw = subprocess.Popen([MICROPYTHON, os.path.join(ROOT, "firmware", "main.py")], cwd=tmp_path, env=env,
                              stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: fw.poll() is not None or answers(http), 20, "the status page")
        assert fw.poll() is None, log.read_text()
        s = wait_until(lambda: (lambda s: s["decoder"]["decoded"] >= 3 and s)(_status(http)), 60, "decoded messages")
        assert s["serial"]["irq"] is False and s["diagnosis"]["code"] != "no_bytes"
        assert s["frames"]["bad_fcs"] == 0 and s["uart"]["overflow"] == 0
        assert s["micropython"]["minimum"] == "1.26.0" and s["micropython"]["supported"] is True
        said = log.read_text()
        assert said.count("serial: the UART IRQ never ran though bytes were waiting") == 1 and "polling" in said
    finally:
        fw.kill()
        fw.wait(timeout=10)
        replay.stop()
