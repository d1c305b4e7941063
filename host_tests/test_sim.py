# test_sim.py Checks `make sim` (tools/sim.py): the firmware against the virtual meter, two sims side by side, taken ports refused. CPython only.

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request

from harness import ROOT, free_port, wait_until

sys.path.insert(0, os.path.join(ROOT, "tools"))
from virtual_meter import VirtualMeter  # noqa: E402


def _sim(tmp_path, name, **settings):
    ours = ("METER", "CAPTURE", "UART_PORT", "START", "SPEED", "SOLAR", "SEED", "HAN_DEVICE_ID")
    env = {k: v for k, v in os.environ.items() if k not in ours}
    env.update(SIM_DIR=str(tmp_path / name), MQTT_PORT=str(settings.pop("MQTT_PORT", free_port())),
               HTTP_PORT=str(settings.pop("HTTP_PORT", free_port())))
    env.update({k: str(v) for k, v in settings.items()})
    log = open(str(tmp_path / (name + ".log")), "w")
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "sim.py")], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    proc.http_port, proc.mqtt_port, proc.log_path = int(env["HTTP_PORT"]), int(env["MQTT_PORT"]), log.name
    return proc


def _output(proc):
    with open(proc.log_path) as f:
        return f.read()


def _refused(tmp_path, **settings):
    proc = _sim(tmp_path, "refused", **settings)
    assert proc.wait(timeout=30) == 2
    return _output(proc)


def _status(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/api/status" % port, timeout=5) as r:
            return json.loads(r.read())
    except OSError:
        return None


def _stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    assert "Traceback" not in _output(proc), _output(proc)
    return code


def test_two_sims_side_by_side_each_with_its_virtual_meter(tmp_path):
    # no UART_PORT: each picks a free one; the second uses the broker the first started
    first = _sim(tmp_path, "first", METER="kaifa", SPEED=20, START="2026-01-14T06:59:00")
    second = None
    try:
        wait_until(lambda: "mosquitto started by make sim" in _output(first), 30, "the first sim's broker")
        second = _sim(tmp_path, "second", METER="kamstrup", SPEED=20, START="2026-01-14T06:59:00", MQTT_PORT=first.mqtt_port)
        for proc, maker in ((first, "kaifa"), (second, "kamstrup")):
            meter_id = VirtualMeter(maker, "2026-01-14T06:59:00").meter_id
            status = wait_until(lambda: (_status(proc.http_port) or {}).get("energy") and _status(proc.http_port), 60,
                                "the %s sim's hourly registers" % maker)
            assert status["meter"]["meter_id"] == meter_id, _output(proc)
            assert status["decoder"]["malformed"] == status["decoder"]["unknown"] == 0
            assert status["energy"]["meter_datetime"].startswith("2026-01-14T07:00:")
        assert "already running" in _output(second)
        for proc in (first, second):  # each its own MQTT session: connected once, never pushed off by the other
            assert _output(proc).count("as han-sim-%d" % proc.http_port) == 1, _output(proc)
            assert "topics han/sim-%d/" % proc.http_port in _output(proc)
        assert _output(first).count("on TCP port") == _output(second).count("on TCP port") == 1
    finally:
        codes = [_stop(p) for p in (second, first) if p]
    assert codes == [0, 0]


def test_sim_refuses_a_taken_http_port(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        out = _refused(tmp_path, HTTP_PORT=port)
    assert "HTTP_PORT %d is taken" % port in out and "make sim HTTP_PORT=" in out
    assert "firmware" not in out  # nothing was started


def test_sim_refuses_a_taken_uart_port(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        out = _refused(tmp_path, UART_PORT=port)
    assert "UART_PORT %d is taken" % port in out and "leave UART_PORT unset" in out


def test_sim_refuses_a_broker_port_that_is_no_broker(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        port = s.getsockname()[1]
        proc = _sim(tmp_path, "refused", MQTT_PORT=port)
        while proc.poll() is None:  # take the probes and close them unanswered, as a web server would not do better
            s.settimeout(0.2)
            try:
                s.accept()[0].close()
            except socket.timeout:
                pass
        assert proc.wait(timeout=30) == 2
    out = _output(proc)
    assert "127.0.0.1:%d, but it is not an MQTT broker" % port in out


def test_sim_refuses_an_unknown_meter_or_start(tmp_path):
    assert "METER must be one of aidon, kaifa, kamstrup, landisgyr" in _refused(tmp_path, METER="iskra")
    out = _refused(tmp_path, START="29.03.2026")
    assert "29.03.2026" in out and "Norwegian local time" in out


def test_virtual_meter_writes_a_capture_that_han_decode_reads(tmp_path):
    path = str(tmp_path / "kaifa.hanlog")
    tools = os.path.join(ROOT, "tools")
    subprocess.run([sys.executable, os.path.join(tools, "virtual_meter.py"), "kaifa", "--start", "2026-03-29T01:59:30",
                    "--hanlog", path, "--seconds", "60"], check=True, timeout=60)
    out = subprocess.run([sys.executable, os.path.join(tools, "han_decode.py"), path], capture_output=True, text=True,
                         timeout=60)
    messages = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(messages) == 30 and "malformed=0 unknown=0" in out.stderr
    assert [m["meter_datetime"] for m in messages if m["list"] == 3] == ["2026-03-29T03:00:10"]  # summer time began
