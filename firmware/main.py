# main.py Starts the firmware (lib/app.py) unless safe boot was asked for.
# On the unix port (make sim) it is run directly, with boot.py's check repeated here.
import sys
import safeboot

if not safeboot.requested():
    del sys.modules["safeboot"]  # needed once: give its RAM back
    import app

    app.main()
