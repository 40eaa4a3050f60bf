"""The optional C extensions, found in one place: each speeds up a pure-Python path that stays as
the fallback (installs without a compiler) and as the tests' oracle."""
from __future__ import annotations

import importlib
import os

# Each extension this process asked for -> whether C runs ("c") or the pure-Python path ("python"):
# every job's log ends with it (workflow.run_step), so a slow build says why.
USED: dict[str, str] = {}


def c_extension(module: str, attribute: str | None = None):
    """The extension `module` (or its `attribute`), or None where it was not built, or where
    NASBENCH_PURE_PYTHON=1 asks for the pure-Python paths even where C is built."""
    name = module.rpartition(".")[2]
    USED[name] = "python"
    if os.environ.get("NASBENCH_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        found = importlib.import_module(module)
    except ImportError:  # pragma: no cover - installs without a compiler
        return None
    USED[name] = "c"
    return found if attribute is None else getattr(found, attribute)


def used() -> str:
    """`_graphhash c, _sqlitebulk python, ...` for the extensions asked for so far, sorted."""
    return ", ".join(f"{name} {how}" for name, how in sorted(USED.items()))
