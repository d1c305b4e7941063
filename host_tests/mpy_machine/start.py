# start.py Runs boot.py, then main.py, from the working folder (the "flash"), as a device does after a reset. Host only (tests).
# Run as `micropython -i start.py` for the REPL that follows on a device. Its folder, on sys.path
# first, also brings the machine stand-in (machine.py).
for _name in ("boot.py", "main.py"):
    with open(_name) as _f:
        exec(_f.read())
