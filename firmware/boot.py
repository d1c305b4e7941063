# boot.py Runs first on power-up: says so when safe boot was asked for (safe-boot pin held, or a SAFE_BOOT file).
import safeboot

if safeboot.requested():
    print("safe boot: the app will not start; delete SAFE_BOOT or release the pin, then reset")
