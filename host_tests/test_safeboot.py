# test_safeboot.py Checks safe boot: a SAFE_BOOT file keeps the app from starting, on both runtimes.

import os
import safeboot


def test_a_safe_boot_file_is_honoured():
    marker = "/tmp/han-test-SAFE_BOOT"
    try:
        os.remove(marker)
    except OSError:
        pass
    assert not safeboot.requested(marker)
    with open(marker, "w") as f:
        f.write("")
    assert safeboot.requested(marker)
    os.remove(marker)
