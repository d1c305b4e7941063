# ntptime.py Provides settime() for the unix port's stand-in Wi-Fi: notes each call in $HAN_NTP_LOG. Test-only.
import os


def settime():
    path = os.getenv("HAN_NTP_LOG")
    if path:
        with open(path, "a") as f:
            f.write("settime\n")
