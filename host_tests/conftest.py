# conftest.py Provides the import paths pytest needs (lib/, the CPython shims), MicroPython's time.ticks_*, and a broker.
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "lib"), os.path.join(HERE, "shims"), HERE]

import ticks  # noqa: E402

ticks.install()


@pytest.fixture
def broker(tmp_path):
    # a real mosquitto on a port of its own, for the firmware tests
    from harness import Broker

    b = Broker(tmp_path)
    yield b
    b.stop()
