# mpy_runner.py Provides the MicroPython side of `make test`: runs the shared test modules on the unix port.
# Usage: micropython host_tests/mpy_runner.py [module ...]

import sys

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, _HERE)
sys.path.insert(0, _HERE + "/../lib")

# Modules whose tests are plain functions that hold on both runtimes
SHARED = (
    "test_decoder_corpus",
    "test_hdlc_assembler",
    "test_ringbuf",
    "test_reading",
    "test_lib_imports",
    "test_zero_alloc",
    "test_config",
    "test_serial_port",
    "test_safeboot",
    "test_wifi",
    "test_diagnosis",
    "test_mqtt_client",
)


def main(names):
    passed = failed = 0
    for name in names:
        module = __import__(name)
        for attr in sorted(dir(module)):
            test = getattr(module, attr)
            if not attr.startswith("test_") or not callable(test):
                continue
            try:
                test()
                passed += 1
                print("PASS", name, attr)
            except Exception as e:
                failed += 1
                print("FAIL", name, attr)
                sys.print_exception(e)
    print("micropython: %d passed, %d failed" % (passed, failed))
    return failed


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1:] or SHARED) else 0)
