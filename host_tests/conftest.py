# conftest.py Provides the import paths pytest needs (lib/ and the CPython shims) and MicroPython's time.ticks_*.
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "lib"), os.path.join(HERE, "shims"), HERE]

import ticks  # noqa: E402

ticks.install()
