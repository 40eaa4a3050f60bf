"""NAS-Bench-101's cells in the project's own API: a ModelSpec or (matrix, ops) <-> NNI's arch dict <->
the graph hash the release keys cells by, every cell of a store in hash order, reproducible samples.

A cell may be given as NNI's arch dict, as (matrix, ops) (lists or numpy arrays, as nasbench's
`ModelSpec(matrix, ops)` takes them), or as a ModelSpec (google's or
`nasbench_store.compat.nasbench.api.ModelSpec`: anything with `matrix`, `ops` and `valid_spec`).
Conversions prune the cell as nasbench does (vertices off every input -> output path go) and
raise QueryError saying why a cell is outside the space. The store is `store_dir` (default:
`paths.default_store_dir()`, i.e. NASBENCHMARK_DIR); its hashes are read once per store file.
"""
from __future__ import annotations

import functools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..database import check_tables, connect_readonly, missing_store_message
from ..errors import QueryError, StoreNotFoundError
from ..paths import default_store_dir
from ..registry import get
from .graph import arch_to_spec, canonical_hash, check_spec, labels_of, prune, spec_hash, spec_to_arch

_PAGE = 4096   # cells per query when iterating


@dataclass(frozen=True)
class Cell:
    """A cell of the store: its graph hash and NNI's arch dict as stored (`matrix` / `ops` as
    nasbench's ModelSpec takes them)."""
    hash: str
    arch: dict

    def __hash__(self) -> int:   # the dict field is unhashable; the graph hash identifies the cell
        return hash(self.hash)

    @property
    def matrix(self) -> list[list[int]]:
        return arch_to_spec(self.arch)[0]

    @property
    def ops(self) -> list[str]:
        return arch_to_spec(self.arch)[1]


def _as_lists(cell, ops) -> tuple[list[list[int]], list[str]]:
    """(matrix, ops) as plain lists, from any form a cell may be given in (not yet pruned)."""
    if ops is not None:
        matrix = cell.tolist() if isinstance(cell, np.ndarray) else [list(row) for row in cell]
        return matrix, list(ops)
    if isinstance(cell, dict):
        return arch_to_spec(cell)
    if hasattr(cell, "matrix") and hasattr(cell, "ops"):   # a ModelSpec: pruned when it was made
        if not getattr(cell, "valid_spec", True):
            raise QueryError("the ModelSpec's input is not connected to its output, so it is not in NAS-Bench-101")
        return np.asarray(cell.matrix).tolist(), list(cell.ops)
    raise QueryError(f"a NAS-Bench-101 cell is an NNI arch dict, a ModelSpec, or a matrix with ops; "
                     f"not {type(cell).__name__}")


def cell_spec(cell, ops=None) -> tuple[list[list[int]], list[str]]:
    """The pruned (matrix, ops) of a cell, checked to be in the space."""
    matrix, ops = _as_lists(cell, ops)
    n = len(ops)
    if len(matrix) != n or any(len(row) != n for row in matrix):
        raise QueryError(f"the adjacency matrix must be {n}x{n} to match {n} ops")
    if any(matrix[i][j] for i in range(n) for j in range(i + 1)):
        raise QueryError("the adjacency matrix must be strictly upper-triangular (edges go from lower to higher "
                         "vertices)")
    labels_of(ops)
    matrix, ops = prune(matrix, ops)
    check_spec(matrix, ops)
    return matrix, ops


def cell_arch(cell, ops=None) -> dict:
    """NNI's arch dict of the pruned cell (what `query_nb101_trial_stats` takes)."""
    return spec_to_arch(*cell_spec(cell, ops))


def cell_hash(cell, ops=None) -> str:
    """The graph hash of a cell (isomorphism-invariant, after pruning): its key in the store and the release."""
    if isinstance(cell, dict) and ops is None:
        return canonical_hash(cell)
    return spec_hash(*cell_spec(cell, ops))


# -- the store's cells ----------------------------------------------------------------------------------
def _db(store_dir) -> Path:
    path = Path(store_dir or default_store_dir()) / get("nasbench101").db_filename
    if not path.is_file():
        raise StoreNotFoundError(missing_store_message(path))
    return path


def _connect(path: Path):
    conn = connect_readonly(path)
    check_tables(conn, path, ["nb101trialconfig"])
    return conn


def hashes(store_dir=None) -> np.ndarray:
    """Every cell's hash, ascending, as a numpy array of 32-byte ASCII strings (13 MB for the 423,624
    cells of the release, where Python strings would take three times that)."""
    path = _db(store_dir)
    st = path.stat()
    return _read_hashes(str(path.absolute()), st.st_size, st.st_mtime_ns, st.st_ino)


@functools.lru_cache(maxsize=4)
def _read_hashes(path: str, size: int, mtime_ns: int, inode: int) -> np.ndarray:
    """Keyed by the file's identity as well as its name, so a rebuilt store is read again."""
    conn = _connect(Path(path))
    try:
        rows = conn.execute("SELECT DISTINCT hash FROM nb101trialconfig ORDER BY hash")
        found = np.array([h for (h,) in rows], dtype="S32")
    finally:
        conn.close()
    found.flags.writeable = False
    return found


def arch_of_hash(module_hash: str, store_dir=None) -> dict:
    """NNI's arch dict the store holds for a graph hash; QueryError if the store has no such cell."""
    conn = _connect(_db(store_dir))
    try:
        row = conn.execute("SELECT arch FROM nb101trialconfig WHERE hash = ? ORDER BY id LIMIT 1",
                           (module_hash,)).fetchone()
    finally:
        conn.close()
    if row is None:
        raise QueryError(f"no cell with hash {module_hash!r} in the NAS-Bench-101 store")
    return json.loads(row[0])


def iter_cells(store_dir=None) -> Iterator[Cell]:
    """Every cell of the store in hash order (the release's file order), read a page at a time."""
    path, last = _db(store_dir), ""
    while True:
        conn = _connect(path)   # no statement stays open between pages
        try:
            page = conn.execute("SELECT hash, arch, MIN(id) FROM nb101trialconfig WHERE hash > ? GROUP BY hash "
                                "ORDER BY hash LIMIT ?", (last, _PAGE)).fetchall()
        finally:
            conn.close()
        for module_hash, arch, _ in page:
            yield Cell(module_hash, json.loads(arch))
        if len(page) < _PAGE:
            return
        last = page[-1][0]


def sample(n: int, seed=None, store_dir=None) -> list[Cell]:
    """`n` distinct cells drawn uniformly; the same `seed` gives the same list on the same release (its
    own generator: Python's global `random` is neither used nor disturbed)."""
    every = hashes(store_dir)
    if not isinstance(n, int) or not 0 <= n <= len(every):
        raise QueryError(f"cannot sample {n!r} distinct cells from {len(every)}")
    chosen = [every[i].decode() for i in random.Random(seed).sample(range(len(every)), n)]
    return [Cell(h, arch_of_hash(h, store_dir)) for h in chosen]
