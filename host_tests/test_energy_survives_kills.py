# test_energy_survives_kills.py Checks that hourly energy messages survive SIGKILLs of the firmware, mid-write too, and arrive once, in order.
# The whole firmware on the unix port, a real mosquitto (persistent, as a real broker is) and a stand-in meter
# that sends one hourly list 3 frame when told, so every kill lands where the test means it to.

import json
import os
import socket

from harness import Broker, Firmware, Recorder, hourly_kaifa_frames, wait_until

ENERGY = "han/test/energy"
QUEUE_FILE = "energy_queue.txt"


class Meter:
    # the meter's side of the firmware's HostUart: one TCP client at a time, a frame when the test says
    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.server.settimeout(30)
        self.port = self.server.getsockname()[1]
        self.client = None

    def send(self, frame):
        if self.client is None:
            self.client, _ = self.server.accept()
        self.client.sendall(frame)

    def hang_up(self):
        # the firmware was killed: its connection is dead, the next one is its successor's
        if self.client is not None:
            self.client.close()
            self.client = None

    def close(self):
        self.hang_up()
        self.server.close()


def test_hourly_energy_survives_kills_in_an_outage_and_mid_write_and_arrives_once_in_order(tmp_path, monkeypatch):
    frames = hourly_kaifa_frames(8)
    want = ["2020-01-01T%02d:00:10" % h for h in range(8)]
    for d in ("broker", "firmware"):
        os.makedirs(str(tmp_path / d))
    broker = Broker(tmp_path / "broker", persist=True)
    rec = Recorder(broker.port, topics=(ENERGY,), client_id="kill-test", clean_session=False, qos=1)
    meter = Meter()
    # the accounting off: its hour messages share the queue, and this counts the energy messages in it
    # (test_accounting_firmware kills the firmware with the accounting on)
    config = {"mqtt": {"host": "127.0.0.1", "port": broker.port}, "meter": {"serial": "kaifa"}, "tariff": {"accounting": "off"}}
    outputs = []  # what each killed run printed
    runs = [Firmware(tmp_path / "firmware", config, meter.port)]

    def got():
        return [json.loads(p)["meter_datetime"] for p in rec.on(ENERGY, live_only=True)]

    def queued():
        return runs[-1].status()["mqtt"]["energy_queued"]

    def kill_and_restart(pause=None):
        # SIGKILL: no goodbye, no flush; then the same state directory again, with the test hook if asked
        runs[-1].kill()
        outputs.append(runs[-1].output())
        meter.hang_up()
        if pause:
            monkeypatch.setenv("HAN_QUEUE_PAUSE", pause)
        else:
            monkeypatch.delenv("HAN_QUEUE_PAUSE", raising=False)
        runs.append(Firmware(tmp_path / "firmware", config, meter.port))
        return runs[-1]

    try:
        for h in (0, 1):  # the broker is there: each goes out at once
            meter.send(frames[h])
            wait_until(lambda: len(got()) == h + 1, 60, "hour %d's energy message" % h)
        broker.stop()
        for h in (2, 3):
            meter.send(frames[h])
        wait_until(lambda: queued() == 2, 30, "two energy messages queued in the outage")

        # kill 1, between writes: the two queued messages are on flash (a RAM queue has none now)
        fw = kill_and_restart(pause="add")
        assert queued() == 2, "the queued energy messages did not survive a SIGKILL:\n" + fw.output()
        assert "energy queue: 2 message(s) waiting" in fw.output()

        # kill 2, mid-write: hour 4's message is in the temp file, not yet renamed over the queue
        meter.send(frames[4])
        wait_until(lambda: "HAN_QUEUE_PAUSE" in fw.output(), 30, "the firmware paused before its rename")
        assert os.path.exists(str(tmp_path / "firmware" / (QUEUE_FILE + ".tmp")))
        fw = kill_and_restart(pause="ack")
        assert "energy queue: finished a write a reset cut off" in fw.output()
        assert queued() == 3
        meter.send(frames[5])
        wait_until(lambda: queued() == 4, 30, "hour 5 queued")

        # kill 3, mid-write of the acknowledgements: the broker is back and has all four, the file not yet
        broker.start()
        wait_until(lambda: "HAN_QUEUE_PAUSE" in fw.output(), 120, "the firmware sent the queue and paused before its rename")
        fw = kill_and_restart()
        assert "energy queue: finished a write a reset cut off" in fw.output() and queued() == 0  # nothing goes out twice

        for h in (6, 7):
            meter.send(frames[h])
        wait_until(lambda: len(got()) >= 8, 120, "all eight hours at the recorder")
        wait_until(lambda: queued() == 0, 30, "the queue empty")
        assert got() == want, got()  # each hour once, in order, across three kills
        for text in outputs + [fw.output()]:
            assert "Traceback" not in text, text
        assert not os.path.exists(str(tmp_path / "firmware" / (QUEUE_FILE + ".tmp")))
    finally:
        runs[-1].kill()
        meter.close()
        rec.close()
        broker.stop()
