"""Digests: the ones config promises, the ones a file has, and what to say when they differ."""
from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError

ALGORITHMS = {"sha256": 64, "md5": 32}


def expected_digests(source: Mapping, benchmark: str) -> dict[str, str]:
    """The `sha256`/`md5` values of `sources.<benchmark>`, checked for shape, lower-cased."""
    out = {}
    for algo, length in ALGORITHMS.items():
        value = source.get(algo)
        if value is None:
            continue
        value = str(value).strip().lower()
        if not re.fullmatch(f"[0-9a-f]{{{length}}}", value):
            raise ConfigError(
                f"sources.{benchmark}.{algo}: {value!r} is not a {algo} hex digest ({length} hex digits)"
            )
        out[algo] = value
    return out


def file_digests(path: Path, algorithms, chunk_size: int = 1 << 20) -> dict[str, str]:
    """Hash `path` once for all `algorithms`."""
    hashers = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as f:
        while block := f.read(chunk_size):
            for h in hashers.values():
                h.update(block)
    return {a: h.hexdigest() for a, h in hashers.items()}


def first_mismatch(expected: Mapping[str, str], actual: Mapping[str, str]) -> tuple[str, str, str] | None:
    """(algorithm, expected, actual) of the first digest that differs, or None."""
    for algo, want in expected.items():
        if actual[algo] != want:
            return algo, want, actual[algo]
    return None
