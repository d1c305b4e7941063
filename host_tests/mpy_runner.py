# mpy_runner.py Provides the MicroPython side of `make test`: runs the shared test modules on MicroPython.
# Usage: micropython host_tests/mpy_runner.py [module ...]   (the x64 unix port)
#        node tools/mpy32.mjs host_tests/mpy_runner.py [module ...]   (the 32-bit WebAssembly port)

import sys

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, _HERE)
sys.path.insert(0, _HERE + "/../lib")
sys.path.insert(0, _HERE + "/mpy_time")  # ticks that wrap like the ESP32's, 30 s after start

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
    "test_framers",
    "test_safeboot",
    "test_watchdog",
    "test_release",
    "test_wifi",
    "test_diagnosis",
    "test_clock",
    "test_counter_wrap",
    "test_energy_queue",
    "test_mqtt_client",
    "test_virtual_meter",
    "test_accounting",
    "test_accounting_vmeter",
    "test_form_req",
    "test_gcm",
    "test_layouts_abroad",
    "test_p1",
    "test_mbus",
)


def runtime():
    # "micropython32" on a 32-bit port (tools/mpy32.mjs, a device), "micropython" on the x64 unix port
    return "micropython32" if sys.maxsize == 0x7FFFFFFF else "micropython"


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
    print("%s: %d passed, %d failed" % (runtime(), passed, failed))
    return failed


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1:] or SHARED) else 0)
