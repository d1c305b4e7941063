# test_mpy32.py Checks the 32-bit runtime (tools/mpy32.mjs) acts like the micropython command and that its checks bite.
# CPython only: it starts node. `make test` installs node and the npm package first (make node-deps).

import os
import shutil
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
MPY32 = os.path.join(ROOT, "tools", "mpy32.mjs")
_PACKAGE = os.path.join(ROOT, "build", "npm", "node_modules", "@micropython", "micropython-webassembly-pyscript")

pytestmark = pytest.mark.skipif(
    not (shutil.which("node") and os.path.isdir(_PACKAGE)), reason="node and the npm package come with `make node-deps`"
)


def _run(*args, cwd=ROOT):
    return subprocess.run(["node", MPY32] + list(args), cwd=cwd, capture_output=True, text=True, timeout=120)


def test_it_is_a_32_bit_micropython_without_viper_or_socket():
    code = (
        "import sys\n"
        "print(sys.implementation.name, sys.maxsize)\n"
        "try:\n    import socket\nexcept ImportError:\n    print('no socket')\n"
        "sys.path.append('lib')\nimport fastbytes\nprint('viper', fastbytes.VIPER)\n"
    )
    p = _run("-c", code)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[:3] == ["micropython 2147483647", "no socket", "viper False"]


def test_a_script_gets_its_argv_path_and_cwd_and_its_exit_code(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("import sys, os\nprint(sys.argv, sys.path[0], os.getcwd(), __name__)\nsys.exit(int(sys.argv[1]))\n")
    p = _run(str(script), "7", cwd=str(tmp_path))
    assert p.returncode == 7, p.stderr
    assert p.stdout == "['%s', '7'] %s %s __main__\n" % (script, tmp_path, tmp_path)


def test_an_uncaught_exception_prints_its_traceback_and_exits_1(tmp_path):
    script = tmp_path / "boom.py"
    script.write_text("def f():\n    raise ValueError('boom')\n\nf()\n")
    p = _run(str(script))
    assert p.returncode == 1
    assert 'File "%s", line 2, in f' % script in p.stderr and "ValueError: boom" in p.stderr
    assert "<stdin>" not in p.stderr  # the runner's own frame is not shown


def test_heap_total_shows_when_the_heap_grew():
    # the port grows its heap instead of raising MemoryError: heap_total() is how a cap is checked
    code = (
        "import mpy32\nt = mpy32.heap_total()\nprint(t <= 96 * 1024)\n"
        "keep = [bytearray(4000) for _ in range(40)]\nprint(mpy32.heap_total() > t)\n"
    )
    p = _run("-X", "heapsize=96K", "-c", code)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "True\nTrue\n"


def test_net_without_its_module_is_a_clear_error():
    if os.path.exists(os.path.join(ROOT, "tools", "mpy32_net.mjs")):
        pytest.skip("tools/mpy32_net.mjs is here")
    p = _run("--net", "-c", "pass")
    assert p.returncode == 1 and "--net needs" in p.stderr and "mpy32_net.mjs" in p.stderr


def _broken_copy(tmp_path, old, new):
    # lib/ and host_tests/ copied to tmp_path with one change in lib/fastbytes.py's plain fallback
    for d in ("lib", "host_tests"):
        shutil.copytree(os.path.join(ROOT, d), str(tmp_path / d), ignore=shutil.ignore_patterns("__pycache__"))
    path = tmp_path / "lib" / "fastbytes.py"
    text = path.read_text()
    fallback = text.index("except SyntaxError")
    assert text.count(old, fallback) == 1, old
    path.write_text(text[:fallback] + text[fallback:].replace(old, new))
    return tmp_path


@pytest.mark.parametrize(
    "old,new",
    [
        ("crc = 0xFFFF\n", "crc = 0xFFFE\n"),  # a wrong CRC: no frame passes
        ("for i in range(n):", "for i in range(n - 1):"),  # a short copy: frames come out damaged
        ("for i in range(n):\n                dst[at + i] = src[start + i]", "dst[at : at + n] = src[start : start + n]"),
    ],
    ids=["wrong-crc", "short-copy", "allocating-copy"],
)
def test_a_broken_plain_fallback_fails_the_32_bit_checks(tmp_path, old, new):
    tree = _broken_copy(tmp_path, old, new)
    p = _run("--copy", str(tree), str(tree / "host_tests" / "mpy_runner.py"), "test_decoder_corpus", "test_zero_alloc")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "FAIL" in p.stdout and "micropython32:" in p.stdout


def test_the_unbroken_copy_passes_them(tmp_path):
    tree = _broken_copy(tmp_path, "crc = 0xFFFF\n", "crc = 0xFFFF\n")
    p = _run("--copy", str(tree), str(tree / "host_tests" / "mpy_runner.py"), "test_decoder_corpus", "test_zero_alloc")
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.rstrip().endswith(", 0 failed")
