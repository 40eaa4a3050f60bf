"""Exclusive lock files (flock) shared by processes on one machine, or on a shared filesystem.

Two builds that share a `raw_dir` (two checkouts, two users on one disk) must not download the
same file at once: each download holds `<file>.lock` next to the destination (`fetch.fetch`).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def exclusive(path: Path, on_wait: Callable[[], None] | None = None, remove: bool = False) -> Iterator[None]:
    """Hold an exclusive flock on `path` (created if missing) for the block.

    `on_wait` is called once, before blocking, when another process holds the lock. With
    `remove`, the file is deleted on release while it is still held; a process that was waiting
    on the deleted file sees that its inode is no longer at `path` and locks the new file instead,
    so deleting never lets two holders in at once.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)   # read-only: another user's lock file will do
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait is not None and not waited:
                    on_wait()
                waited = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            if not remove or _is_at(fd, path):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)   # we locked a lock file its holder deleted on release: take the current one
    try:
        yield
    finally:
        if remove:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        os.close(fd)


def _is_at(fd: int, path: Path) -> bool:
    """True if the open file `fd` is the file now at `path`."""
    try:
        at_path = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (at_path.st_dev, at_path.st_ino)
