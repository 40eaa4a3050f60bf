"""Exceptions that say which file or key is wrong and what to do about it."""
from __future__ import annotations

from pathlib import Path


class NasbenchStoreError(Exception):
    """Base class for every error this package raises on purpose."""


# The reader does not know where the file came from: a download, or a local `path` from the config.
DEFAULT_HINT = ("the file is damaged or is not the expected release: if the build downloaded it, delete it and "
                "run again; if it is a local `path` from your config, that file is damaged or is not the release, "
                "so point `path` at a good copy (or remove `path` to download it)")


class RawFormatError(NasbenchStoreError):
    """A raw release file is corrupt, truncated or not what its format promises."""

    def __init__(self, path: str | Path, offset: int | None, problem: str, hint: str | None = None):
        self.path = str(path)
        self.offset = offset
        self.problem = problem
        self.hint = hint
        where = f"{self.path}" if offset is None else f"{self.path} at byte offset {offset}"
        hint = hint or DEFAULT_HINT
        super().__init__(f"{where}: {problem} ({hint})")

    def __reduce__(self):  # picklable, so a process pool reports the real message
        return (type(self), (self.path, self.offset, self.problem, self.hint))


class UnsafePickleError(RawFormatError):
    """A pickle asked for a global or persistent id outside the allow-list; nothing was executed."""


class DamagedStoreError(NasbenchStoreError):
    """A built or published file is not what its build recorded or not what nasbench-store builds; the
    message says how to repair it."""


class ConfigError(NasbenchStoreError):
    """A config value is missing or invalid."""


class StoreNotFoundError(NasbenchStoreError, FileNotFoundError):
    """The store file a query needs does not exist."""


class QueryError(NasbenchStoreError, ValueError):
    """A query argument is outside the benchmark's space; the message lists what is valid."""


def shown(value) -> str:
    """A value from a raw file, for a message: short, and safe for huge ints and deep nesting (whose
    repr raises)."""
    if isinstance(value, int) and value.bit_length() > 256:
        return f"an integer of {value.bit_length()} bits"
    try:
        text = repr(value)
    except (RecursionError, ValueError):
        return f"a {type(value).__name__} too large to show"
    return text if len(text) <= 80 else text[:77] + "..."
