# test_deploy.py Checks make deploy and make flash without hardware: the unix port behind a pty stands in for a board.
# For the watchdog, the firmware runs on that board with host_tests/mpy_machine: a machine.WDT that kills the
# process when it is not fed in time and cannot be stopped, as the ESP32's resets the chip.

import json
import os
import subprocess
import time

import pytest

from corpus import good_hdlc, Pipeline
from harness import ROOT, free_port, wait_until

MPREMOTE = os.path.join(ROOT, ".venv", "bin", "mpremote")
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")
MPY_MACHINE = os.path.join(ROOT, "host_tests", "mpy_machine")


@pytest.fixture
def board(tmp_path):
    # the unix port's REPL on a pty, as mpremote sees a USB board; its working folder is the "flash"
    flash = tmp_path / "flash"
    flash.mkdir()
    port = tmp_path / "ttyMP"
    socat = subprocess.Popen(["socat", "PTY,link=%s,raw,echo=0" % port, "EXEC:%s,pty,raw,echo=0,stderr" % MICROPYTHON],
                             cwd=flash, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: port.exists(), 10, "the pty")
    yield str(port), flash
    socat.terminate()
    socat.wait(timeout=10)


def _make(*args):
    return subprocess.run(["make", "--no-print-directory"] + list(args), cwd=ROOT, capture_output=True, text=True, timeout=300)


def _config(tmp_path, data):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_deploy_over_a_pty_puts_the_firmware_where_the_device_expects_it_and_it_decodes(tmp_path, board):
    port, flash = board
    config = _config(tmp_path, {"board": "host", "mqtt": {"host": "192.168.1.10"}})
    p = _make("deploy", "PORT=" + port, "BOARD=host", "CONFIG=" + config, "NO_RESET=1")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "the board runs MicroPython 1." in p.stdout  # asked before anything was copied
    # the unix port has VfsRom but no ROMFS partition (vfs.rom_ioctl): lib goes as files, and it says so
    assert "no ROMFS partition on this board's MicroPython: lib is copied as files" in p.stdout
    files = sorted(os.path.relpath(os.path.join(d, n), flash) for d, _, names in os.walk(flash) for n in names)
    modules = sorted(n[:-3] for n in os.listdir(os.path.join(ROOT, "lib")) if n.endswith(".py") and n != "host_uart.py")
    assert files == sorted(["boot.py", "main.py", "app_slot.py", "config.json", "boards/host.json", "lib/status_page.html", "lib/setup_page.html"]
                           + ["lib/%s.mpy" % m for m in modules])  # no mip: the MQTT client is lib's own
    assert (flash / "lib" / "hdlc.mpy").read_bytes()[:2] == b"M\x06"  # compiled, for the unix port's arch
    assert json.loads((flash / "config.json").read_text())["mqtt"]["host"] == "192.168.1.10"

    frame = good_hdlc("kaifa")[1]["bytes"]
    script = ("import sys\nsys.path.insert(0, 'lib')\nfrom hdlc import Assembler\nfrom dlms import Decoder\n"
              "d = Decoder(lambda rd: print('JSON', rd.json()))\na = Assembler(d.apdu)\n"
              "f = bytes.fromhex('%s')\na.feed(f, len(f))\n" % frame.hex())
    out = subprocess.run([MPREMOTE, "connect", port, "resume", "exec", script], capture_output=True, text=True, timeout=60)
    decoded = [json.loads(line[5:]) for line in out.stdout.splitlines() if line.startswith("JSON ")]
    assert decoded == Pipeline().feed(frame).messages

    again = _make("deploy", "PORT=" + port, "BOARD=host", "CONFIG=" + config, "NO_RESET=1")
    assert again.returncode == 0 and again.stdout.count("Up to date:") == len(files)
    config = _config(tmp_path, {"board": "host", "mqtt": {"host": "192.168.1.20"}})
    third = _make("deploy", "PORT=" + port, "BOARD=host", "CONFIG=" + config, "NO_RESET=1")
    assert third.returncode == 0 and third.stdout.count("Up to date:") == len(files) - 1  # only config.json changed
    assert json.loads((flash / "config.json").read_text())["mqtt"]["host"] == "192.168.1.20"


def test_deploy_refuses_a_config_without_the_wifi_ssid_before_touching_the_device(tmp_path, board):
    port, flash = board
    config = _config(tmp_path, {"board": "esp32-devkitc", "mqtt": {"host": "192.168.1.10"}})
    p = _make("deploy", "PORT=" + port, "BOARD=esp32-devkitc", "CONFIG=" + config)
    assert p.returncode != 0
    assert "wifi.ssid: missing" in p.stderr and "nothing was copied" in p.stderr
    assert os.listdir(flash) == []


def test_deploy_names_a_missing_port_and_an_unknown_board(tmp_path):
    config = _config(tmp_path, {"board": "esp32-devkitc", "wifi": {"ssid": "home"}, "mqtt": {"host": "h"}})
    p = _make("deploy", "PORT=/dev/ttyNOPE", "BOARD=esp32-devkitc", "CONFIG=" + config)
    assert p.returncode != 0 and "no such port: /dev/ttyNOPE" in p.stderr
    p = _make("deploy", "PORT=/dev/ttyNOPE", "BOARD=esp8266", "CONFIG=" + config)
    assert p.returncode != 0 and "board esp8266" in p.stderr and "esp32-devkitc" in p.stderr


def test_flash_picks_chip_and_offset_from_the_board_and_checks_the_image(tmp_path):
    image = tmp_path / "ESP32_GENERIC_S3.bin"
    image.write_bytes(b"\xe9" + bytes(400 * 1024))
    flash = [os.path.join(ROOT, ".venv", "bin", "python"), os.path.join(ROOT, "tools", "flash.py"), "--port", "/dev/ttyUSB0"]
    p = subprocess.run(flash + ["--board", "esp32s3", "--firmware", str(image), "--dry-run"], capture_output=True, text=True)
    assert p.returncode == 0
    assert "--chip esp32s3 --port /dev/ttyUSB0 erase-flash" in p.stdout
    assert "write-flash -z 0x0 %s" % image in p.stdout
    p = subprocess.run(flash + ["--firmware", str(image), "--dry-run"], capture_output=True, text=True)
    assert "--chip esp32 " in p.stdout and "write-flash -z 0x1000" in p.stdout  # the DevKitC's ESP32
    bad = tmp_path / "firmware.bin"
    bad.write_bytes(b"<html>not found</html>")
    p = subprocess.run(flash + ["--firmware", str(bad), "--dry-run"], capture_output=True, text=True)
    assert p.returncode == 2 and "is not an ESP32 firmware image" in p.stderr
    p = subprocess.run(flash + ["--board", "host", "--firmware", str(image)], capture_output=True, text=True)
    assert p.returncode == 2 and "nothing to flash" in p.stderr
    p = _make("flash", "PORT=/dev/ttyUSB0")
    assert p.returncode != 0 and "usage: make flash" in p.stdout


def _deploy_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("deploy", os.path.join(ROOT, "tools", "deploy.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_deploy_refuses_a_micropython_the_firmware_cannot_run_and_names_the_release_to_flash():
    deploy = _deploy_module()
    devkitc, c3 = {"chip": "esp32"}, {"chip": "esp32c3"}
    xtensa, rv32 = (6, 3, 10), (6, 3, 11)  # what mpy-cross builds: .mpy 6.3, and the arch of the native code

    def mpy(arch, sub=3):  # sys.implementation._mpy
        return 6 | sub << 8 | arch << 10

    assert deploy.refusal((1, 26, 0), mpy(10), xtensa, "esp32-devkitc", devkitc) is None
    assert deploy.refusal((1, 27, 0), mpy(11), rv32, "esp32c3-devkitm1", c3) is None
    why = deploy.refusal((1, 25, 0), mpy(10), xtensa, "esp32-devkitc", devkitc)
    assert "MicroPython 1.25.0" in why and "loses every UART byte" in why and "Flash v1.26.0 or newer for the esp32" in why
    why = deploy.refusal((1, 22, 2), mpy(10, sub=2), xtensa, "esp32-devkitc", devkitc)
    assert "cannot load this build's .mpy files" in why and "v1.26.0" in why
    why = deploy.refusal((1, 23, 0), mpy(0), rv32, "esp32c3-devkitm1", c3)
    assert "no RV32 native code" in why and "for the esp32c3" in why
    why = deploy.refusal((1, 27, 0), mpy(11), xtensa, "esp32-devkitc", devkitc)
    assert why == "the board runs rv32imc code, but BOARD=esp32-devkitc is compiled for xtensawin: choose the board's own profile"
    assert ".mpy version 6.2" in deploy.refusal((1, 27, 0), mpy(10, sub=2), xtensa, "esp32-devkitc", devkitc)


def test_deploy_asks_the_board_and_refuses_one_of_another_architecture_before_copying(tmp_path, board):
    port, flash = board  # the unix port: x64
    config = _config(tmp_path, {"board": "esp32-devkitc", "wifi": {"ssid": "home"}, "mqtt": {"host": "192.168.1.10"}})
    p = _make("deploy", "PORT=" + port, "BOARD=esp32-devkitc", "CONFIG=" + config)
    assert p.returncode == 2
    assert "the board runs x64 code, but BOARD=esp32-devkitc is compiled for xtensawin" in p.stderr and "Nothing was copied" in p.stderr
    assert os.listdir(flash) == []


# --- a running dongle with its watchdog armed ---

WDT_TIMEOUT_S = 5  # the shortest watchdog.timeout_s the config allows


def _start_dongle(flash, port):
    # start.py runs boot.py and main.py from the flash folder, then the REPL, on a pty that turns Ctrl-C into
    # SIGINT (isig), as a board's USB serial interrupts the running program
    env = dict(os.environ, MICROPYPATH=".frozen:lib:" + os.path.join(ROOT, "lib"), HAN_UART="127.0.0.1:1",
               HAN_DEVICE_ID="test", HAN_HTTP_PORT=str(free_port()))
    exe = "%s -i %s" % (MICROPYTHON, os.path.join(MPY_MACHINE, "start.py"))
    socat = subprocess.Popen(["socat", "PTY,link=%s,raw,echo=0" % port, "EXEC:%s,pty,setsid,ctty,raw,echo=0,isig=1,stderr" % exe],
                             cwd=flash, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: "armed" in _machine_log(flash), 20, "the firmware to arm its watchdog")
    return socat


def _machine_log(flash):
    try:
        return (flash / "machine.log").read_text()
    except OSError:
        return ""


def _repl(port, code):
    return subprocess.run([MPREMOTE, "connect", port, "resume", "exec", code], capture_output=True, text=True, timeout=60)


def test_a_running_dongle_with_its_watchdog_armed_takes_ctrl_c_the_repl_and_a_deploy_without_a_reset(tmp_path, board):
    port, flash = board
    config = {"board": "host", "mqtt": {"host": "127.0.0.1", "port": free_port()},
              "watchdog": {"timeout_s": WDT_TIMEOUT_S, "start_after_s": 0}}
    p = _make("deploy", "PORT=" + port, "BOARD=host", "CONFIG=" + _config(tmp_path, config), "NO_RESET=1")
    assert p.returncode == 0, p.stdout + p.stderr
    board_port = str(tmp_path / "ttyDongle")
    dongle = _start_dongle(flash, board_port)
    try:
        assert _machine_log(flash) == "armed %d\n" % (WDT_TIMEOUT_S * 1000)
        out = _repl(board_port, "print('at the REPL', 6 * 7)")  # mpremote's Ctrl-C stops the app
        assert "at the REPL 42" in out.stdout, out.stdout + out.stderr
        time.sleep(WDT_TIMEOUT_S + 2)  # longer than the watchdog allows: only the timer feeds it now
        out = _repl(board_port, "print('still here')")
        assert "still here" in out.stdout and "watchdog reset" not in _machine_log(flash), _machine_log(flash) + out.stderr

        config["mqtt"]["host"] = "192.168.1.30"
        p = _make("deploy", "PORT=" + board_port, "BOARD=host", "CONFIG=" + _config(tmp_path, config))
        assert p.returncode == 0, p.stdout + p.stderr
        assert json.loads((flash / "config.json").read_text())["mqtt"]["host"] == "192.168.1.30"
        wait_until(lambda: dongle.poll() is not None, 10, "the reset at the end of the deploy")
        assert _machine_log(flash).splitlines()[-1] == "reset"  # make deploy's own, not the watchdog's
        assert "watchdog reset" not in _machine_log(flash)
        assert "failed_boots" not in os.listdir(flash)  # the new firmware gets fresh tries
    finally:
        dongle.terminate()
        dongle.wait(timeout=10)


def test_a_deploy_with_config_none_stages_no_config_so_the_dongle_is_set_up_from_a_phone():
    deploy = _deploy_module()
    profile = json.load(open(os.path.join(ROOT, "boards", "esp32-devkitc.json")))
    tree = deploy.stage("esp32-devkitc", profile, None)
    assert not os.path.exists(os.path.join(tree, "config.json"))
    assert os.path.exists(os.path.join(tree, "lib", "setup_page.html")) and os.path.exists(os.path.join(tree, "lib", "setup_mode.mpy"))


def test_the_romfs_image_deploy_writes_runs_in_place_on_micropython(tmp_path):
    # what `make deploy` writes into a board's ROMFS partition: lib compiled for the board, under lib/;
    # mounted with the unix port's VfsRom at /rom as a board mounts it, the modules import and decode
    import sys

    sys.path.insert(0, os.path.join(ROOT, "tools"))
    try:
        import deploy
    finally:
        sys.path.pop(0)
    profile, _ = deploy.boards.load("host", os.path.join(ROOT, "boards"))
    tree = deploy.stage("host", profile, None)
    _, image = deploy.romfs_image(tree)
    frame = good_hdlc("kaifa")[1]["bytes"]
    script = ("import sys, vfs\nvfs.mount(vfs.VfsRom(open(%r, 'rb').read()), '/rom')\nsys.path[:0] = ['/rom/lib']\n"
              "import hdlc, dlms, os\nprint('FROM', hdlc.__file__, sorted(os.listdir('/rom/lib'))[:3])\n"
              "d = dlms.Decoder(lambda rd: print('JSON', rd.json()))\na = hdlc.Assembler(d.apdu)\n"
              "f = bytes.fromhex(%r)\na.feed(f, len(f))\n" % (image, frame.hex()))
    out = subprocess.run([MICROPYTHON, "-c", script], capture_output=True, text=True, timeout=60, cwd=str(tmp_path))
    assert "FROM /rom/lib/hdlc.mpy" in out.stdout, out.stdout + out.stderr
    decoded = [json.loads(line[5:]) for line in out.stdout.splitlines() if line.startswith("JSON ")]
    assert decoded == Pipeline().feed(frame).messages
