# usocket.py Provides the old name of socket.py for the umqtt.simple of the unix port's tests (it imports usocket). Host only.
from socket import *  # noqa: F401,F403
