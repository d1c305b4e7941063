# test_boot_guard.py Checks that nothing before the loop strands the board: a failed start is logged and reset, and the third in a row stops in safe mode.
# firmware/main.py on the unix port with host_tests/mpy_machine (reset_cause from HAN_RESET_CAUSE; reset() ends
# the process with status 3, as app.py's does). The failure is a real one: lib/fastbytes_viper compiled for the ESP32,
# which this runtime refuses ("incompatible .mpy arch"), as a board refuses .mpy files of another release.

import json
import os
import subprocess

from harness import MICROPYTHON, ROOT, free_port, wait_until

MPY_MACHINE = os.path.join(ROOT, "host_tests", "mpy_machine")


def _setup(tmp_path):
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "config.json").write_text(json.dumps({"board": "host", "mqtt": {"host": "127.0.0.1", "port": free_port()}}))
    broken = tmp_path / "broken"
    broken.mkdir()
    subprocess.run([os.path.join(os.path.dirname(MICROPYTHON), "mpy-cross"), "-march=xtensawin", "-o", str(broken / "fastbytes_viper.mpy"),
                    os.path.join(ROOT, "lib", "fastbytes_viper.py")], check=True)
    return flash, str(broken)


def _boot(flash, cause, broken=None, wait=True):
    # one start of the board after a reset of the kind `cause`
    path = [MPY_MACHINE] + ([broken] if broken else []) + [os.path.join(ROOT, "lib")]
    env = dict(os.environ, MICROPYPATH=":".join(path), HAN_RESET_CAUSE=cause, HAN_FAIL_PAUSE_S="0",
               HAN_BOARDS=os.path.join(ROOT, "boards"), HAN_UART="127.0.0.1:1", HAN_HTTP_PORT=str(free_port()), HAN_GRACE_S="0")
    p = subprocess.Popen([MICROPYTHON, os.path.join(ROOT, "firmware", "main.py")], cwd=flash, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if not wait:
        return p
    out = p.communicate(timeout=30)[0]
    return p.returncode, out


def _count(flash):
    path = flash / "failed_boots"
    return int(path.read_text()) if path.exists() else 0


def test_a_failed_start_is_logged_then_reset_and_the_third_in_a_row_stops_in_safe_mode(tmp_path):
    flash, broken = _setup(tmp_path)
    status, out = _boot(flash, "power-on", broken)
    assert status == 3  # machine.reset(), after the pause
    assert "the start failed (1 of 3 before safe mode" in out and "incompatible .mpy arch" in out
    assert "resetting in 0 s, Ctrl-C keeps the REPL" in out
    error = (flash / "last_error.txt").read_text()
    assert error.startswith("failed start 1 of 3") and "ValueError: incompatible .mpy arch" in error and "hdlc" in error
    assert _count(flash) == 1
    for n in (2, 3):  # each reset was the firmware's own: the count carries
        status, out = _boot(flash, "hard", broken)
        assert status == 3 and "the start failed (%d of 3 before safe mode" % n in out
    status, out = _boot(flash, "hard", broken)
    assert status == 0  # no reset: main.py ends, the REPL follows on a device
    assert "safe mode: 3 starts in a row failed before the loop ran" in out and "incompatible .mpy arch" in out
    assert "han-dongle" not in out and "boot: MicroPython" not in out  # nothing of lib/ was started


def test_a_power_on_gives_fresh_tries_and_a_start_that_runs_clears_the_count(tmp_path):
    flash, broken = _setup(tmp_path)
    (flash / "failed_boots").write_text("3")
    status, out = _boot(flash, "power-on", broken)  # RESET button, power cut, brown-out: try again
    assert status == 3 and "the start failed (1 of 3" in out
    status, out = _boot(flash, "watchdog", broken)
    assert status == 3 and "the start failed (2 of 3" in out
    p = _boot(flash, "hard", wait=False)  # fixed (make deploy): the loop runs
    try:
        wait_until(lambda: _count(flash) == 0, 20, "the count to be cleared once the loop ran through its start-up")
        assert p.poll() is None
    finally:
        p.terminate()
        out = p.communicate(timeout=10)[0]
    assert "boot: MicroPython 1." in out and "han-dongle" in out


def test_a_safe_boot_file_keeps_the_app_from_starting_and_is_no_failed_start(tmp_path):
    flash, _ = _setup(tmp_path)
    (flash / "SAFE_BOOT").write_text("")
    status, out = _boot(flash, "power-on")
    assert status == 0 and "safe mode: a SAFE_BOOT file is on the board" in out and "han-dongle" not in out
    assert _count(flash) == 0
