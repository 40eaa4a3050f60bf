"""Where stores live: one rule shared by the build and the query side."""
from __future__ import annotations

import os
from pathlib import Path

ENV_STORE_DIR = "NASBENCHMARK_DIR"


def default_store_dir() -> Path:
    """`$NASBENCHMARK_DIR` if set (NNI's variable), else `$XDG_CACHE_HOME/nasbench-store`.

    Read at call time, not import time, so a process can point queries elsewhere at any moment.
    """
    env = os.environ.get(ENV_STORE_DIR)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(cache).expanduser() / "nasbench-store"
