# test_release.py Checks the minimum MicroPython release the firmware states at boot and in /api/status.
# Shared: runs under pytest and under the MicroPython unix port (mpy_runner.py).

import release


def test_the_minimum_is_v1_26_0_for_every_chip():
    assert release.MINIMUM == (1, 26, 0)
    assert release.status((1, 26, 0)) == {"version": "1.26.0", "minimum": "1.26.0", "supported": True}
    assert release.status((1, 27, 0, "")) == {"version": "1.27.0", "minimum": "1.26.0", "supported": True}
    for old in ((1, 25, 0), (1, 24, 1), (1, 22, 2)):
        assert not release.status(old)["supported"]


def test_the_boot_line_names_the_release_to_flash_on_an_old_board():
    assert release.line((1, 27, 0)) == "MicroPython 1.27.0 (this firmware needs 1.26.0 or newer)"
    assert "flash v1.26.0 or newer" in release.line((1, 25, 0))


def test_this_runtime_reports_itself():
    s = release.status()
    assert s["version"].count(".") == 2 and s["minimum"] == "1.26.0" and s["supported"] in (True, False)
