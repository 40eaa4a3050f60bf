"""The NB201 store as the NAS-Bench-201 and NATS-Bench facades read it.

`locate` turns what the official constructors take (None, a path) into the store's database:
besides what `nasbench_store.compat.locate_store` accepts (None, a store directory, a `.db`, the raw
`.pth` or NATS `.tar` found by its sha256 in a manifest), an extracted NATS-tss directory is found by
the tree digest the manifest records for a directory source (`manifest.raw_digest`), remembered by
the files' names, sizes, mtimes and inodes so the archive is hashed once.

`Nb201Store` reads the store read-only: the arch strings once, then an architecture's runs on
demand (two indexed queries), and per-epoch values only for an epoch before the last (one row).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ...database import check_tables, connect_readonly
from ...errors import StoreNotFoundError
from ...nasbench201.constants import DATASETS, EPOCHS, RAW_DATASETS
from ...nasbench201.space import arch_index_of_config
from ...registry import get
from ...safety.archives import directory_files
from .. import _read_cache, _write_cache, candidate_store_dirs, digest_cache_path, locate_store
from .results import RAW_TO_STORE, ArchRuns, Flavor, Run

BENCHMARK = "nasbench201"
NATS_META = "meta.pickle.pbz2"   # every NATS-tss directory holds it at its top (nasbench201.nats.META_NAME)
TREE_CACHE_ENTRIES = 64
_MAX_TREE_FILE = 1 << 40


# -- finding the store --------------------------------------------------------------------------------
def locate(path) -> Path:
    """The nasbench201.db a facade reads, from None, a store directory, a .db, or the raw release
    (`.pth`, NATS `.tar`, or extracted NATS-tss directory) a store was built from."""
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"pass a path (a store directory, nasbench201.db or the raw release) or None, not a "
                        f"{type(path).__name__}: the facade answers from the NB201 store, not from a loaded dict")
    if path is not None:
        p = Path(os.fspath(path)).expanduser()
        if p.is_dir() and (p / NATS_META).is_file() and not (p / get(BENCHMARK).db_filename).is_file():
            return _store_for_tree(p.absolute())
    return locate_store(BENCHMARK, path)


def _tree_key(root: Path) -> tuple[str, int, int, list]:
    """(fingerprint of every file's name, size, mtime and inode; total size; file count; the files)."""
    files = directory_files(root, _MAX_TREE_FILE)
    stats = [(rel, f.stat()) for rel, f in files]
    listing = [(rel, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev) for rel, st in stats]
    fingerprint = hashlib.sha256(json.dumps([str(root), listing]).encode()).hexdigest()
    return fingerprint, sum(st.st_size for _, st in stats), len(files), files


def tree_sha256(root: Path) -> str:
    """The manifest's sha256 of a directory source (`manifest.raw_digest`), cached while no file changed."""
    fingerprint, _, _, _ = _tree_key(root)
    cache = digest_cache_path().with_name("raw-tree-digests.json")   # the raw files' cache, for directories
    entries = _read_cache(cache)
    hit = entries.get(str(root))
    if isinstance(hit, dict) and hit.get("fingerprint") == fingerprint and isinstance(hit.get("sha256"), str):
        return hit["sha256"]
    from ...manifest import raw_digest  # loads pyarrow: only when a directory is hashed
    print(f"nasbench-store: computing the sha256 of the files in {root} once (remembered in {cache})")
    digest = raw_digest(root)["sha256"]
    if _tree_key(root)[0] == fingerprint:   # unchanged while it was read
        entries.pop(str(root), None)
        entries[str(root)] = {"fingerprint": fingerprint, "sha256": digest}
        while len(entries) > TREE_CACHE_ENTRIES:
            entries.pop(next(iter(entries)))
        _write_cache(cache, entries)
    return digest


def _store_for_tree(root: Path) -> Path:
    _, size, count, _ = _tree_key(root)
    db_name = get(BENCHMARK).db_filename
    dirs = candidate_store_dirs(root)
    matching = []
    for d in dirs:
        try:
            raw = json.loads((d / "manifest.json").read_text())["benchmarks"][BENCHMARK]["raw"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(raw, dict) and raw.get("size") == size and raw.get("files") == count and (d / db_name).is_file():
            matching.append((d, raw))
    digest = tree_sha256(root) if matching else None
    for d, raw in matching:
        if raw.get("sha256") == digest:
            return d / db_name
    found = f"tree sha256 {digest}" if digest else f"{count} files, {size} bytes"
    raise StoreNotFoundError(
        f"no NAS-Bench-201 store built from the NATS-tss directory {root} ({found}) in {', '.join(map(str, dirs))}. "
        f"Build one in the nasbench-store checkout with `snakemake --cores 2 {BENCHMARK} --configfile mine.yaml`, "
        f"where mine.yaml sets `sources: {{{BENCHMARK}: {{path: {root}}}}}` (and `store_dir` to one of those "
        f"directories unless it is the default), or pass the store directory instead.")


# -- reading it -------------------------------------------------------------------------------------
_RUNS = ("SELECT s.id, s.config_id, s.seed, s.train_acc, s.valid_acc, s.test_acc, s.ori_test_acc, s.train_loss, "
         "s.valid_loss, s.test_loss, s.ori_test_loss, s.parameters, s.flops, i.latency_mean, i.channels, i.num_cells, "
         "i.num_classes, i.eval_names FROM nb201trialstats s JOIN nb201trialinfo i ON i.trial_id = s.id "
         "WHERE s.config_id BETWEEN ? AND ? ORDER BY s.config_id, s.seed")
_SPANS = ("SELECT from_epoch, to_epoch, train_time, x_valid_time, x_test_time, ori_test_time, "
          "has_train_acc, has_train_loss, has_x_valid_acc, has_x_valid_loss, has_x_test_acc, has_x_test_loss, "
          "has_ori_test_acc, has_ori_test_loss FROM nb201epochspan WHERE trial_id = ? ORDER BY id")
_EPOCH = ("SELECT train_acc, valid_acc, test_acc, ori_test_acc, train_loss, valid_loss, test_loss, ori_test_loss "
          "FROM nb201intermediatestats WHERE trial_id = ? AND current_epoch = ?")
_EMPTY_EPOCH = (None,) * 8
_STORE_TO_RAW = dict(zip(DATASETS, RAW_DATASETS))


class Nb201Store:
    """Read-only access to one nasbench201.db for the facades. It survives a fork (a child process opens
    its own connection) and pickling (it reopens the file), as scripts running searches in a process pool
    need."""

    def __init__(self, db_path: Path):
        self.path = Path(db_path)
        self._open()
        self.meta_archs = [a for (a,) in self.conn.execute("SELECT arch_str FROM nb201arch ORDER BY arch_index")]

    def _open(self) -> None:
        conn = connect_readonly(self.path, check_same_thread=False)
        try:
            check_tables(conn, self.path, get(BENCHMARK).stored_tables)
        except Exception as exc:
            conn.close()
            raise type(exc)(f"{exc}. A store built before nasbench-store kept the tables the official-API facades "
                            "read lacks them: rebuild it (`snakemake --cores 2 nasbench201`)") from None
        self._conn, self._pid = conn, os.getpid()

    @property
    def conn(self):
        if self._pid != os.getpid():   # a forked child: the parent's SQLite connection is not its to use
            self._open()
        return self._conn

    def __getstate__(self) -> dict:
        return {"path": self.path, "meta_archs": self.meta_archs}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._open()

    def evaluated(self) -> list[int]:
        """Architecture indexes with at least one run, ascending."""
        return [i for (i,) in self.conn.execute("SELECT DISTINCT arch_index FROM nb201trialinfo ORDER BY arch_index")]

    def hps(self) -> set[str]:
        """The budgets (as the APIs' hp strings) any run has."""
        rows = self.conn.execute("SELECT DISTINCT c.num_epochs FROM nb201trialconfig c WHERE EXISTS "
                                 "(SELECT 1 FROM nb201trialstats s WHERE s.config_id = c.id)")
        return {str(e) for (e,) in rows}

    def seed_counts(self, hp: str, dataset: str) -> tuple[dict[int, int], set[int]]:
        """({architecture index: its runs on `dataset` (the release's name) at budget `hp`}, the indexes
        with any run at that budget), from one grouped scan of the runs' config ids."""
        if hp not in ("12", "200"):
            return {}, set()
        first = EPOCHS.index(int(hp)) * 4
        wanted = first + DATASETS.index(RAW_TO_STORE[dataset])
        seeds, budgeted = {}, set()
        for config, runs in self.conn.execute("SELECT config_id, COUNT(*) FROM nb201trialstats WHERE "
                                              "(config_id - 1) % 8 BETWEEN ? AND ? GROUP BY config_id",
                                              (first, first + 3)):
            index = arch_index_of_config(config)
            budgeted.add(index)
            if (config - 1) % 8 == wanted:
                seeds[index] = runs
        return seeds, budgeted

    def arch(self, index: int, flavor: Flavor) -> dict[str, ArchRuns] | None:
        """{hp: ArchRuns} of an architecture (hps ascending, as the release lists them), None without runs."""
        rows = self.conn.execute(_RUNS, (8 * index + 1, 8 * index + 8)).fetchall()
        if not rows:
            return None
        arch_str = self.meta_archs[index]
        by_hp: dict[str, dict[str, list[Run]]] = {}
        for row in rows:
            position = (row[1] - 1) % 8
            epochs, dataset = EPOCHS[position // 4], _STORE_TO_RAW[DATASETS[position % 4]]
            run = Run(self, flavor, row, dataset, epochs, arch_str)
            by_hp.setdefault(str(epochs), {}).setdefault(dataset, []).append(run)
        return {hp: ArchRuns(index, arch_str, flavor, runs) for hp, runs in by_hp.items()}

    def run_spans(self, trial_id: int) -> list[tuple]:
        """A run's epoch spans in order: read when a call first needs its times or keys (a run of the
        release has one to three; a file whose per-epoch times vary has one per epoch, ~1,900 for an
        architecture's runs)."""
        return self.conn.execute(_SPANS, (trial_id,)).fetchall()

    def epoch_values(self, trial_id: int, current_epoch: int) -> tuple:
        """NNI's 8 per-epoch values of a run (NULL = a missing key or a NaN; the spans say which)."""
        row = self.conn.execute(_EPOCH, (trial_id, current_epoch)).fetchone()
        return _EMPTY_EPOCH if row is None else row

    def close(self) -> None:
        self._conn.close()


def open_store(path) -> Nb201Store:
    return Nb201Store(locate(path))
