"""Write-to-temporary-then-rename, so a failed step never leaves a file under its final name."""
from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


def _temp_sibling(final: Path) -> Path:
    """Fixed per final name, so a rerun after a crash replaces what the crashed run left."""
    return final.with_name(f".{final.name}.partial")


@contextlib.contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `final`; rename it into place only if the block succeeds.

    The temporary lives in the same directory, so the rename is atomic and readers see the old
    file or the new one, never a partial one. On any exception the temporary is removed.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(final)
    _remove(tmp)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"{tmp}: the step did not write its output")
        os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(final: str | Path) -> Iterator[Path]:
    """Like `atomic_path` for a directory: build it under a temporary name, then swap it in."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(final)
    _remove(tmp)
    tmp.mkdir()
    try:
        yield tmp
        old = final.with_name(f".{final.name}.old")
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        _remove(old)
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
