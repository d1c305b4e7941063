# tariff_presets.py Provides steps(name): the capacity steps (kW) of a large Norwegian grid company for config tariff.preset, and NAMES.
# MIT license
#
# Source: the open tariff data set "fri-nettleie" (kraftsystemet/fri-nettleie on GitHub, CC-BY-4.0),
# as summed up in ../shared/docs/energy-norway.md section 2; each table is the one valid from the
# date given (the companies change their prices most years, their steps rarely). Above 50 kW the
# steps are the common 50-75, 75-100, then open, which that summary gives for all of them.
# Imported by lib/config.py only when tariff.preset is set, and not kept.

_COMMON = (2, 5, 10, 15, 20, 25, 50, 75, 100)

# name: (valid from, thresholds in kW)
_PRESETS = (
    ("elvia", "2026-07-01", _COMMON),
    ("bkk", "2026-01-01", _COMMON),
    ("glitre", "2026-07-01", _COMMON),
    ("tensio_tn", "2026-07-01", _COMMON),  # Tensio's northern area (Trøndelag nord)
    ("lede", "2026-05-01", _COMMON[1:]),  # no 2 kW step: 0-5
    ("lnett", "2026-01-01", _COMMON),
)

NAMES = tuple(p[0] for p in _PRESETS)


def steps(name):
    # (valid from, [thresholds in kW]) of the preset called name, or None
    for n, since, kw in _PRESETS:
        if n == name:
            return since, list(kw)
    return None
