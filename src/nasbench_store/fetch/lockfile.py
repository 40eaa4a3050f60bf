"""Digests recorded on first download for files whose upstream publishes none (NDS data.zip).

The lock file lives beside the config (commit it, like any lock file): later downloads, on this
machine or another, are checked against it instead of being trusted blindly.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import yaml

from ..atomic import atomic_path
from ..errors import ConfigError
from .filelock import exclusive

HEADER = (
    "# sha256 of raw files whose upstream publishes no digest, recorded by nasbench-store on the first\n"
    "# verified download; later downloads must match. Delete an entry to accept a changed upstream file.\n"
)


def lookup(lock_file: Path, benchmark: str, name: str) -> dict | None:
    """The recorded entry for `name` of `benchmark`, or None."""
    return _read(lock_file).get(benchmark, {}).get(name)


def record(lock_file: Path, benchmark: str, name: str, sha256: str, size: int, origin: str) -> None:
    """Add an entry; safe against concurrent download jobs (flock + atomic rewrite)."""
    with _locked(lock_file):
        data = _read(lock_file)
        data.setdefault(benchmark, {})[name] = {"sha256": sha256, "size": size, "source": origin}
        with atomic_path(lock_file) as tmp:
            tmp.write_text(HEADER + yaml.safe_dump(data, sort_keys=True, default_flow_style=False))


def _read(lock_file: Path) -> dict:
    if not lock_file.exists():
        return {}
    try:
        data = yaml.safe_load(lock_file.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{lock_file}: not valid YAML ({e}); fix or delete the file") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{lock_file}: expected a mapping of benchmark -> file -> digest; fix or delete the file")
    return data


def _locked(lock_file: Path) -> contextlib.AbstractContextManager[None]:
    return exclusive(lock_file.with_name(f".{lock_file.name}.flock"))
