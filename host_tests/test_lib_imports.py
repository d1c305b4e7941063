# test_lib_imports.py Checks every module in lib/ imports on this runtime (and so on the device's).
# Shared: runs under pytest, the MicroPython unix port and the 32-bit WebAssembly port (mpy_runner.py).
# That last one has no socket module and no viper: the modules that need them are named below, and
# there they must fail for exactly that reason, so a new module cannot hide behind the exception.

import os

_LIB = (__file__.rsplit("/", 1)[0] if "/" in __file__ else ".") + "/../lib"

NEEDS_SOCKET = ("app", "host_uart", "web")  # app through web; mqtt_client imports socket only to connect
NEEDS_VIPER = ("fastbytes_viper",)  # fastbytes.py falls back to plain loops without it


def _has_socket():
    try:
        import socket  # noqa: F401
    except ImportError:
        return False
    return True


def _has_viper():
    # the decorator is refused at compile time where the port has no viper emitter
    try:
        exec("import micropython\n@micropython.viper\ndef f(x: int) -> int:\n    return x\n")
    except SyntaxError:
        return False
    return True


def _names():
    return sorted(n[:-3] for n in os.listdir(_LIB) if n.endswith(".py"))


def test_the_named_exceptions_are_lib_modules():
    for name in NEEDS_SOCKET + NEEDS_VIPER:
        assert name in _names(), name


def test_every_lib_module_imports():
    names = _names()
    assert len(names) >= 8
    socket = _has_socket()
    viper = _has_viper()
    for name in names:
        if name in NEEDS_SOCKET and not socket:
            try:
                __import__(name)
                raise AssertionError(name + " imported without socket: take it off NEEDS_SOCKET")
            except ImportError as e:
                assert "socket" in str(e), (name, e)
        elif name in NEEDS_VIPER and not viper:
            try:
                __import__(name)
                raise AssertionError(name + " compiled without viper: take it off NEEDS_VIPER")
            except SyntaxError:
                pass
        else:
            __import__(name)


def test_fastbytes_uses_viper_wherever_the_port_has_it():
    import fastbytes
    import sys

    if sys.implementation.name == "micropython":
        assert fastbytes.VIPER == _has_viper()
    else:
        assert not fastbytes.VIPER  # CPython: binascii
