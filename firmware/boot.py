# boot.py Runs first after every reset: keeps a running watchdog fed after a soft reset, and after a real reset gives the safe-boot window.
# MIT license
#
# The window: for 3 s the LED blinks (where the board has one) and a press of BOOT keeps the app
# from starting (lib/safeboot.py). A soft reset (Ctrl-D, mpremote) keeps the watchdog the last
# session started, but stops the timer that fed it: watchdog.after_soft_reset() takes it again.
# Anything that fails here is printed and left to main.py, which reports and counts failed starts.
try:
    import watchdog

    watchdog.after_soft_reset()
    import safeboot

    safeboot.window()
except Exception as e:
    print("boot.py: %r" % e)
