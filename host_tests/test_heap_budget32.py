# test_heap_budget32.py Guards the firmware's heap at 32 bits: energy queue full, four page clients, the largest allocation, lib from files and from ROMFS.
#
# Runs of harness32.budget_run() at the budget's heap: the broker away while 80 hourly list 3 frames
# arrive (the queue fills to 72 through the firmware's own path), then four clients read / and
# /api/status in a loop; with lib loaded from files (a stock ESP32 firmware), the heap is then cut into
# free runs of at most 2 KB and they go on. With lib in a ROMFS image (a board with a ROMFS partition:
# code and constant data stay in flash), once with the accounting off and once with "auto", which
# turns it on there. The figures are the heap in use right after full collections, at 32 bits:
# deterministic within a few hundred bytes (what the clients hold at that moment). No timing is asserted.

import pytest

from harness32 import QUEUE_FULL, budget_run, missing


@pytest.fixture(autouse=True, scope="module")
def _runtime():
    # the 32-bit runtime is part of make test (make node-deps installs it): missing is a failure, not a skip
    if missing():
        pytest.fail(missing())


HEAP = "96K"  # the budget's heap: a plain ESP32 starts at 56 KB and grows once to about 112 KB
IN_USE_MAX = 64 * 1024  # the firmware's heap in use after gc.collect(), the target
LARGEST_MAX = 2048  # any single allocation while serving
# What holds today, so that nothing grows back unseen: with the energy queue on flash and the cuts in
# docs/firmware.md ("Memory"), the firmware's share peaked at 75,648 bytes (73.9 KB); the setup and
# settings hooks, the accounting's switch and MQTT side (the accounting itself is off on a heap this
# small, tariff.accounting) and the update's hooks brought it to 80,064 (78.2 KB), reading M-Bus and P1
# meters too (the readers themselves load only where they are used: lib/framers.py) to 81,728 (79.8 KB).
# Lower it as cuts land.
IN_USE_GUARD = 82 * 1024


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return budget_run(tmp_path_factory.mktemp("budget"), heapsize=HEAP, seconds=15, largest=LARGEST_MAX)


def _share(run):
    # the firmware's heap in use: the peak after collection, less the stand-ins' baseline (the runner,
    # and the socket and select modules that a device has built in)
    return max(run["in_use"]) - run["baseline"]


def test_four_page_clients_get_every_answer_with_the_energy_queue_full(run):
    assert run["queued"] == QUEUE_FULL
    assert run["requests"] >= 40 and run["failed"] == [], run["failed"][:5]
    assert run["loop_errors"] == 0


def test_no_allocation_while_serving_is_larger_than_2_kb(run):
    # after the cut, an allocation of more than LARGEST_MAX bytes has no room and grows the heap
    assert run["grew_serving"] == [], run["grew_serving"]


def test_the_heap_in_use_does_not_grow_back_past_todays_figure(run):
    assert _share(run) <= IN_USE_GUARD, "firmware heap in use %d bytes" % _share(run)


@pytest.mark.xfail(strict=True, reason="not from files: 79.8 KB, of which the modules' bytecode, objects and qstrs take "
                   "about 55 KB, and the start, one call on this port, grows the heap (docs/firmware.md); from ROMFS it "
                   "holds (below); remove this mark once it passes")
def test_the_firmware_fits_the_budget_heap_with_64_kb_in_use(run):
    assert run["grew"] == [], run["grew"]
    assert _share(run) <= IN_USE_MAX, "firmware heap in use %d bytes" % _share(run)


# --- lib from ROMFS (npm's 1.29 release of the same port maps the image outside the GC heap) ---

@pytest.fixture(scope="module")
def romfs_run(tmp_path_factory):
    if missing(romfs=True):
        pytest.fail(missing(romfs=True))
    return budget_run(tmp_path_factory.mktemp("romfs"), heapsize=HEAP, seconds=15, largest=None, romfs=True)


@pytest.fixture(scope="module")
def romfs_accounting_run(tmp_path_factory):
    if missing(romfs=True):
        pytest.fail(missing(romfs=True))
    return budget_run(tmp_path_factory.mktemp("romfs_auto"), heapsize=HEAP, seconds=15, largest=None, romfs=True,
                      accounting="auto")


def test_from_romfs_the_firmware_fits_the_budget_heap_with_64_kb_in_use(romfs_run):
    # no growth at all at 96 KB (where a fixed heap would raise MemoryError), every answer given
    assert romfs_run["queued"] == QUEUE_FULL
    assert romfs_run["requests"] >= 40 and romfs_run["failed"] == [], romfs_run["failed"][:5]
    assert romfs_run["loop_errors"] == 0
    assert romfs_run["grew"] == [], romfs_run["grew"]
    assert _share(romfs_run) <= IN_USE_MAX, "firmware heap in use %d bytes" % _share(romfs_run)


def test_from_romfs_auto_runs_the_accounting_within_64_kb(romfs_accounting_run):
    # the accounting's code stays in flash too. The heap may grow while the queue fills: 80 hours of
    # list 3 in 2.5 s, each hour's accounting and ledger write in one pass of the loop, whose garbage
    # this port cannot collect before the pass ends (a device collects; no meter sends so fast). Once
    # the queue is full, none.
    r = romfs_accounting_run
    assert r["accounting_off"] is None
    assert r["queued"] == QUEUE_FULL
    assert r["requests"] >= 40 and r["failed"] == [], r["failed"][:5]
    assert r["loop_errors"] == 0
    assert r["grew_full"] == [], r["grew_full"]
    assert _share(r) <= IN_USE_MAX, "firmware heap in use %d bytes" % _share(r)
