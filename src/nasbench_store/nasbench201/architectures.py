"""NAS-Bench-201's architectures in the project's own API: index <-> arch string <-> NNI dict, every
architecture of a store in index order, reproducible samples, NNI's query rows carrying the index,
and the isomorphism-invariant form of a cell.

The index is an architecture's position in the release's `meta_archs` (what nas_201_api and
nats_bench call `index`); the order is the release's, not an enumeration, so it comes from the
store (table nb201arch). Everything takes `store_dir` (default: `paths.default_store_dir()`, i.e.
NASBENCHMARK_DIR), and reads the index once per store file.
"""
from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..database import check_tables, connect_readonly, missing_store_message
from ..errors import QueryError, StoreNotFoundError
from ..paths import default_store_dir
from ..registry import get
from .query import query_nb201_trial_stats
from .space import arch_index_of_config, arch_str, normalize_arch, parse_arch_str


@dataclass(frozen=True)
class Architecture:
    """One cell of the space: its index and the release's arch string (`arch` is NNI's dict)."""
    index: int
    arch_str: str

    @property
    def arch(self) -> dict[str, str]:
        return parse_arch_str(self.arch_str)


def _db(store_dir) -> Path:
    path = Path(store_dir or default_store_dir()) / get("nasbench201").db_filename
    if not path.is_file():
        raise StoreNotFoundError(missing_store_message(path))
    return path


def arch_strs(store_dir=None) -> tuple[str, ...]:
    """The release's `meta_archs`: every arch string, position = index."""
    path = _db(store_dir)
    st = path.stat()
    return _read_arch_strs(str(path.absolute()), st.st_size, st.st_mtime_ns, st.st_ino)


@functools.lru_cache(maxsize=8)
def _read_arch_strs(path: str, size: int, mtime_ns: int, inode: int) -> tuple[str, ...]:
    """Keyed by the file's identity as well as its name, so a rebuilt store is read again."""
    conn = connect_readonly(path)
    try:
        check_tables(conn, path, ["nb201arch"])
        return tuple(a for (a,) in conn.execute("SELECT arch_str FROM nb201arch ORDER BY arch_index"))
    finally:
        conn.close()


@functools.lru_cache(maxsize=8)
def _positions(archs: tuple[str, ...]) -> dict[str, int]:
    return {a: i for i, a in enumerate(archs)}


def index_of(arch, store_dir=None) -> int:
    """The index of an arch string, NNI dict (either operator spelling) or Architecture; an int is
    checked to be an index. QueryError when the store has no such architecture."""
    archs = arch_strs(store_dir)
    if isinstance(arch, Architecture):
        arch = arch.index
    if isinstance(arch, int) and not isinstance(arch, bool):
        if not 0 <= arch < len(archs):
            raise QueryError(f"architecture index {arch} is outside 0..{len(archs) - 1}")
        return arch
    text = arch_str(normalize_arch(arch))   # validates, and spells the string as the release does
    index = _positions(archs).get(text)
    if index is None:
        raise QueryError(f"{text} is a NAS-Bench-201 cell but not one of this store's {len(archs)} architectures")
    return index


def arch_str_of(arch, store_dir=None) -> str:
    """The release's arch string of an index (or any form `index_of` takes)."""
    return arch_strs(store_dir)[index_of(arch, store_dir)]


def nni_arch_of(arch, store_dir=None) -> dict[str, str]:
    """NNI's arch dict ({'0_1': 'conv_3x3', ...}) of an index (or any form `index_of` takes)."""
    return parse_arch_str(arch_str_of(arch, store_dir))


def architecture(arch, store_dir=None) -> Architecture:
    """The Architecture of an index, arch string or NNI dict."""
    index = index_of(arch, store_dir)
    return Architecture(index, arch_strs(store_dir)[index])


def iter_architectures(store_dir=None) -> Iterator[Architecture]:
    """Every architecture of the store, in index order."""
    for index, text in enumerate(arch_strs(store_dir)):
        yield Architecture(index, text)


def sample(n: int, seed=None, store_dir=None) -> list[Architecture]:
    """`n` distinct architectures drawn uniformly; the same `seed` gives the same list on the same
    release (its own generator: Python's global `random` is neither used nor disturbed)."""
    archs = arch_strs(store_dir)
    if not isinstance(n, int) or not 0 <= n <= len(archs):
        raise QueryError(f"cannot sample {n!r} distinct architectures from {len(archs)}")
    return [Architecture(i, archs[i]) for i in random.Random(seed).sample(range(len(archs)), n)]


def query_with_index(arch, num_epochs, dataset, reduction=None, include_intermediates=False) -> Iterator[dict]:
    """`query_nb201_trial_stats` (same arguments, same store), each dict also carrying the
    architecture's `arch_index` and `arch_str` (NNI's function itself returns exactly NNI's dicts)."""
    for row in query_nb201_trial_stats(arch, num_epochs, dataset, reduction, include_intermediates):
        row["arch_index"] = arch_index_of_config(row["config"]["id"])
        row["arch_str"] = arch_str(row["config"]["arch"])
        yield row

