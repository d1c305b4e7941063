# conftest.py Provides the import paths pytest needs (lib/, the CPython shims), MicroPython's time.ticks_*, a broker, and modules a test dropped put back.
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


@pytest.fixture(autouse=True)
def _modules_kept():
    # Some lib code drops modules from sys.modules after use, as the device must (lib/framers.py drops
    # the frame readers it no longer feeds). pytest shares one sys.modules across every test file, and
    # other tests hold and patch the modules loaded at collection: put back whatever a test dropped.
    kept = dict(sys.modules)
    yield
    for name, module in kept.items():
        if sys.modules.get(name) is not module:
            sys.modules[name] = module
