# ha_deps.py Provides `make ha-deps`: a real Home Assistant core for the tests, in build/ha-venv.
# MIT license
#
# Home Assistant needs Python 3.13 or newer. This finds the machine's newest such Python (on PATH or
# in pyenv), makes build/ha-venv with it and installs PyPI's `homeassistant`: HA_VERSION if set,
# else the newest release whose Requires-Python admits that Python (pip picks it; on Python 3.13.0
# that is 2025.4.4, since 2025.5 and later want 3.13.2). Then the requirements of every integration
# host_tests/ha_configuration.yaml loads, and of those Home Assistant always loads, read from the
# installed manifests, within Home Assistant's own package_constraints.txt: the tests start it with
# `hass --skip-pip`, so it never installs anything while it runs.
#
# build/ha-venv/.installed names the Python and the release: a second run with the same ones does
# nothing. Without a Python >= 3.13, build/ha-venv.skip says why, and the Home Assistant tests skip
# with that reason. Exit status: 0 when installed or skipped, 1 when an install failed.
#
# An older release for a check by hand (not part of make test), say the oldest the discovery
# supports: HA_VENV=build/ha-venv-2024.6 HA_PYTHON=3.12 HA_VERSION='2024.6.*'
# HA_PIP_EXTRA='josepy<2' make ha-deps, then the tests with the same HA_VENV. HA_PIP_EXTRA: what an
# old release needs pinned that it did not pin itself (2024.6's cloud code fails to import with josepy 2).

import ast
import glob
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, os.environ.get("HA_VENV") or os.path.join("build", "ha-venv"))
MARKER = os.path.join(VENV, ".installed")
SKIP = VENV + ".skip"
CONFIG = os.path.join(ROOT, "host_tests", "ha_configuration.yaml")
OLDEST = (3, 13)
FLOWS = ("mqtt",)  # set up by the tests through config flows, so not in the configuration


def say(message):
    print("ha-deps: " + message, flush=True)


def candidates():
    # every python3 we can see: PATH's python3.N and python3, and pyenv's installs (not the shims)
    names = ["python3.%d" % n for n in range(13, 30)] + ["python3"]
    found = [shutil.which(n) for n in names]
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found += glob.glob(os.path.join(root, "versions", "*", "bin", "python3"))
    return [f for f in found if f]


def version_of(python):
    # (version tuple, real executable), or None when it does not run or cannot make a venv with pip
    probe = "import sys, venv, ensurepip; print(sys.version_info[:3], sys.executable)"
    try:
        out = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode:
        return None
    head, _, exe = out.stdout.strip().partition(") ")
    return tuple(int(x) for x in head.strip("(").split(",")), exe


def pythons():
    # {real executable: version} of every Python found
    seen = {}
    for c in candidates():
        v = version_of(c)
        if v:
            seen[v[1]] = v[0]
    return seen


def config_domains():
    # the integrations the tests load: the test config's top-level keys, and those set up by a flow
    with open(CONFIG) as f:
        keys = {line.split(":")[0] for line in f if line[:1].isalpha() and ":" in line}
    return sorted((keys | set(FLOWS)) - {"homeassistant"})


def _always_loaded(homeassistant_dir):
    # bootstrap.py's CORE_INTEGRATIONS and DEFAULT_INTEGRATIONS, read from its source: importing it
    # would import half of Home Assistant (and old releases' imports break on newer libraries)
    with open(os.path.join(homeassistant_dir, "bootstrap.py")) as f:
        tree = ast.parse(f.read())
    found = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") in ("CORE_INTEGRATIONS", "DEFAULT_INTEGRATIONS") for t in node.targets):
            found |= set(ast.literal_eval(node.value))
    return found


def requirements(homeassistant_dir, domains):
    # the requirements of these domains, Home Assistant's always-loaded ones and everything they
    # depend on, from the installed manifests
    components = os.path.join(homeassistant_dir, "components")
    todo = set(domains) | _always_loaded(homeassistant_dir)
    seen, reqs = set(), set()
    while todo:
        domain = todo.pop()
        seen.add(domain)
        with open(os.path.join(components, domain, "manifest.json")) as f:
            manifest = json.load(f)
        reqs.update(manifest.get("requirements", ()))
        todo.update(set(manifest.get("dependencies", ())) - seen)
    return sorted(reqs)


def pip(*args):
    cmd = [os.path.join(VENV, "bin", "python"), "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    subprocess.run(cmd + list(args), check=True)


def main():
    found = pythons()
    chosen = os.environ.get("HA_PYTHON")
    if chosen:  # by hand, whatever its version: a version ("3.12": the newest 3.12 found) or a command
        if chosen[:1].isdigit():
            want = tuple(int(x) for x in chosen.split("."))
            found = {exe: v for exe, v in found.items() if v[: len(want)] == want}
        else:
            v = version_of(shutil.which(chosen) or chosen)
            found = {v[1]: v[0]} if v else {}
        if not found:
            say("HA_PYTHON=%s: no such Python here that runs and can make a venv" % chosen)
            return 1
    best = max(found.items(), key=lambda kv: kv[1], default=None)
    if chosen:
        return install(*best)
    if best is None or best[1][:2] < OLDEST:
        reason = "no Python >= %d.%d on this machine (found %s): Home Assistant needs one; the Home Assistant tests skip" % (
            OLDEST + (", ".join(".".join(map(str, v)) for v in sorted(found.values())) or "none",))
        os.makedirs(os.path.dirname(SKIP), exist_ok=True)
        if os.path.exists(MARKER):
            os.remove(MARKER)  # a Home Assistant of a Python that is gone
        with open(SKIP, "w") as f:
            f.write(reason + "\n")
        say(reason)
        return 0
    return install(*best)


def install(python, version):
    wanted = os.environ.get("HA_VERSION") or ""
    extra = (os.environ.get("HA_PIP_EXTRA") or "").split()
    stamp = "python %s %s homeassistant %s%s" % (".".join(map(str, version)), python, wanted or "newest", "".join(" " + e for e in extra))
    try:
        with open(MARKER) as f:
            if f.readline().strip() == stamp:
                say("%s already in %s" % (f.readline().strip(), os.path.relpath(VENV, ROOT)))
                return 0
    except OSError:
        pass
    say("installing Home Assistant %s with %s (%s) into %s" % (wanted or "(newest for this Python)", python,
                                                                ".".join(map(str, version)), os.path.relpath(VENV, ROOT)))
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([python, "-m", "venv", VENV], check=True)
    pip("homeassistant" + ("==" + wanted if wanted else ""), *extra)
    site = subprocess.run([os.path.join(VENV, "bin", "python"), "-c", "import homeassistant, os; print(os.path.dirname(homeassistant.__file__))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    pip("-c", os.path.join(site, "package_constraints.txt"), *requirements(site, config_domains()))
    installed = subprocess.run([os.path.join(VENV, "bin", "python"), "-c", "from homeassistant.const import __version__; print(__version__)"],
                               capture_output=True, text=True, check=True).stdout.strip()
    with open(MARKER, "w") as f:
        f.write(stamp + "\nhomeassistant " + installed + "\n")
    if os.path.exists(SKIP):
        os.remove(SKIP)
    say("Home Assistant %s installed" % installed)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as e:
        say("failed: %s" % " ".join(e.cmd))
        sys.exit(1)
