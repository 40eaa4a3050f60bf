"""The C extensions built with AddressSanitizer and UndefinedBehaviorSanitizer, under the tests that
drive them hardest (each compares C with the pure-Python oracle on random, corrupt and hostile input):
a write or read out of bounds, a use after free or undefined behaviour fails here even where the
normal build's results happen to come out right. This is how a lane buffer of the graph hash that
was 35 bytes short was found."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from helpers import REPO, require_or_skip

EXTENSIONS = ("nasbench101/_graphhash", "nasbench101/_recordscan", "_sqlitebulk", "safety/_opwalk")
TESTS = ("tests/test_nb101_graph.py", "tests/test_nb101_cext.py", "tests/test_sqlite_bulk.py",
         "tests/test_safety_opwalk.py")
# what the session header (tests/conftest.py) says when every extension is in use
ALL_C = "graph hash: c; NB101 record loop: c; pickle opcode walk: c; SQLite inserts: c"


def _runtime(name: str) -> str | None:
    """The sanitizer runtime gcc links against, or None when gcc or the library is missing."""
    if shutil.which("gcc") is None:
        return None
    found = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    return found if os.path.isabs(found) and os.path.exists(found) else None


@pytest.fixture(scope="module")
def sanitized(tmp_path_factory) -> Path:
    """A copy of the package whose extensions are built with -fsanitize=address,undefined."""
    if not all(_runtime(lib) for lib in ("libasan.so", "libubsan.so")):
        require_or_skip("NASBENCH_REQUIRE_CEXT", "gcc with AddressSanitizer and UBSan runtimes is not installed")
    root = tmp_path_factory.mktemp("sanitized")
    shutil.copytree(REPO / "src" / "nasbench_store", root / "nasbench_store",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    include, suffix = sysconfig.get_paths()["include"], sysconfig.get_config_var("EXT_SUFFIX")
    for ext in EXTENSIONS:
        build = subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-g", "-fno-omit-frame-pointer",
                                "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", f"-I{include}",
                                str(REPO / "src" / "nasbench_store" / f"{ext}.c"),
                                "-o", str(root / "nasbench_store" / f"{ext}{suffix}")],
                               capture_output=True, text=True)
        assert build.returncode == 0, build.stderr
    return root


def test_c_extensions_are_clean_under_address_and_undefined_behaviour_sanitizers(sanitized):
    env = {**os.environ, "PYTHONPATH": str(sanitized), "ASAN_OPTIONS": "detect_leaks=0",  # CPython keeps memory
           "UBSAN_OPTIONS": "print_stacktrace=1",
           "LD_PRELOAD": f"{_runtime('libasan.so')} {_runtime('libubsan.so')}"}
    env.pop("NASBENCH_PURE_PYTHON", None)
    where = subprocess.run([sys.executable, "-c", "import nasbench_store; print(nasbench_store.__file__)"],
                           env=env, capture_output=True, text=True, cwd=REPO)
    assert where.stdout.strip() == str(sanitized / "nasbench_store" / "__init__.py"), where.stderr
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-x", *TESTS],
                         env=env, capture_output=True, text=True, cwd=REPO, timeout=900)
    report = run.stdout[-4000:] + run.stderr[-6000:]
    assert ALL_C in run.stdout, report  # the sanitized extensions ran, not the pure-Python fallbacks
    assert "AddressSanitizer" not in run.stderr and "runtime error" not in run.stderr, report
    assert run.returncode == 0, report
