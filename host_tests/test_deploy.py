# test_deploy.py Checks make deploy and make flash without hardware: the unix port behind a pty stands in for a board.

import json
import os
import shutil
import subprocess
import time

import pytest

from corpus import good_hdlc, Pipeline
from harness import HOST_LIB, ROOT, wait_until

MPREMOTE = os.path.join(ROOT, ".venv", "bin", "mpremote")
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")


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


@pytest.fixture
def mip_index(tmp_path):
    # the copy of umqtt.simple fetched at set-up, laid out as a mip package index
    index = tmp_path / "index"
    for mpy in ("6", "py"):
        d = index / "package" / mpy / "umqtt.simple"
        d.mkdir(parents=True)
        shutil.copy(os.path.join(HOST_LIB, "umqtt", "simple.py"), d / "simple.py")
        (d / "latest.json").write_text(json.dumps({"urls": [["umqtt/simple.py", "simple.py"]], "version": "1.3.4"}))
    return str(index)


def _make(*args):
    return subprocess.run(["make", "--no-print-directory"] + list(args), cwd=ROOT, capture_output=True, text=True, timeout=300)


def _config(tmp_path, data):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_deploy_over_a_pty_puts_the_firmware_where_the_device_expects_it_and_it_decodes(tmp_path, board, mip_index):
    port, flash = board
    config = _config(tmp_path, {"board": "host", "mqtt": {"host": "192.168.1.10"}})
    p = _make("deploy", "PORT=" + port, "BOARD=host", "CONFIG=" + config, "MIP_INDEX=" + mip_index, "NO_RESET=1")
    assert p.returncode == 0, p.stdout + p.stderr
    files = sorted(os.path.relpath(os.path.join(d, n), flash) for d, _, names in os.walk(flash) for n in names)
    modules = sorted(n[:-3] for n in os.listdir(os.path.join(ROOT, "lib")) if n.endswith(".py") and n != "host_uart.py")
    assert files == sorted(["boot.py", "main.py", "config.json", "boards/host.json", "lib/status_page.html", "lib/umqtt/simple.py"]
                           + ["lib/%s.mpy" % m for m in modules])
    assert (flash / "lib" / "hdlc.mpy").read_bytes()[:2] == b"M\x06"  # compiled, for the unix port's arch
    assert json.loads((flash / "config.json").read_text())["mqtt"]["host"] == "192.168.1.10"

    frame = good_hdlc("kaifa")[1]["bytes"]
    script = ("import sys\nsys.path.insert(0, 'lib')\nfrom hdlc import Assembler\nfrom dlms import Decoder\n"
              "d = Decoder(lambda rd: print('JSON', rd.json()))\na = Assembler(d.apdu)\n"
              "f = bytes.fromhex('%s')\na.feed(f, len(f))\n" % frame.hex())
    out = subprocess.run([MPREMOTE, "connect", port, "resume", "exec", script], capture_output=True, text=True, timeout=60)
    decoded = [json.loads(line[5:]) for line in out.stdout.splitlines() if line.startswith("JSON ")]
    assert decoded == Pipeline().feed(frame).messages

    again = _make("deploy", "PORT=" + port, "BOARD=host", "CONFIG=" + config, "MIP_INDEX=" + mip_index, "NO_RESET=1")
    assert again.returncode == 0 and again.stdout.count("Up to date:") == len(files) - 1  # all but mip's package
    config = _config(tmp_path, {"board": "host", "mqtt": {"host": "192.168.1.20"}})
    third = _make("deploy", "PORT=" + port, "BOARD=host", "CONFIG=" + config, "MIP_INDEX=" + mip_index, "NO_RESET=1")
    assert third.returncode == 0 and third.stdout.count("Up to date:") == len(files) - 2  # only config.json changed
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
