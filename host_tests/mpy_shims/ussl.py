# ussl.py Provides wrap_socket() for the PyPI umqtt.simple 1.3.4 on the unix port, which still imports ussl.
# Test-only (MicroPython now has ssl.SSLContext); the device's umqtt.simple from mip takes the context itself.


def wrap_socket(sock, context=None, server_hostname=None, **_):
    return context.wrap_socket(sock, server_hostname=server_hostname)
