"""google's `nasbench.api` (NAS-Bench-101) without TensorFlow, answered from a nasbench-store store.

    from nasbench_store.compat.nasbench import api      # instead of: from nasbench import api
    nasbench = api.NASBench()                           # or the store dir, its .db, or the .tfrecord
    data = nasbench.query(api.ModelSpec(matrix, ops))

Same classes, methods, arguments, key names, units, types and errors as the original:
accuracies as fractions, `trainable_parameters` an int, times in seconds, `module_adjacency` an
int8 array. `query` draws one `random.randint(0, num_repeats - 1)` from Python's global `random`
module after a successful lookup, and the constructor calls `random.seed(seed)`, both exactly as
the original does, so a seeded script sees the same repeats in the same order.

The difference is where the numbers come from. The original parses the whole TFRecord into two
dicts (minutes, gigabytes); here `fixed_statistics` and `computed_statistics` are read-only
mappings that look a hash up in the store's SQLite tables when asked (`len`, iteration over the
hashes and `in` work too), so construction is instant and memory stays small. The store keeps
NNI's units (percent, millions of parameters); the values are converted back without loss:
the raw accuracies are float32 values, for which `x * 100 / 100 == x` holds exactly in float64,
and parameter counts are below 2**31, so `round(p / 1e6 * 1e6) == p`.

Deliberate differences:
- More than 7 vertices after pruning raises OutOfDomainError. The original's message formatting
  looks the limit up in the wrong object there, so it raises a TypeError instead.
- `fixed_statistics[h]` and `computed_statistics[h]` build new dicts on every access: changing
  them changes nothing stored (in the original they are the dicts every later query copies).
- Hashes are iterated in ascending order, which is the release's file order (it is sorted by
  hash); the store does not keep the file order of a raw file that is not sorted. Repeats keep
  their file order, which is what repeat sampling depends on.
- A `ModelSpec` whose `ops` is a tuple prunes to a list (the original fails deleting from a tuple).
- `evaluate` (training a model with TensorFlow) raises NotImplementedError.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping

import numpy as np

from ...database import check_tables, connect_readonly
from ...errors import DamagedStoreError
from ...nasbench101.graph import arch_to_spec, hash_module
from .. import locate_store

INPUT = "input"
OUTPUT = "output"
CONV1X1 = "conv1x1-bn-relu"
CONV3X3 = "conv3x3-bn-relu"
MAXPOOL3X3 = "maxpool3x3"

BENCHMARK = "nasbench101"
TABLES = ("nb101trialconfig", "nb101trialstats", "nb101intermediatestats")
# One repeat dict of computed_statistics, in the original's key order.
STAT_KEYS = ("halfway_training_time", "halfway_train_accuracy", "halfway_validation_accuracy",
             "halfway_test_accuracy", "final_training_time", "final_train_accuracy",
             "final_validation_accuracy", "final_test_accuracy")


def build_config() -> dict:
    """The defaults of nasbench's configuration flags, in their order of definition."""
    return {
        "train_data_files": [], "valid_data_file": "", "test_data_file": "", "sample_data_file": "",
        "data_format": "channels_last", "num_labels": 10,
        "module_vertices": 7, "max_edges": 9, "available_ops": [CONV3X3, CONV1X1, MAXPOOL3X3],
        "stem_filter_size": 128, "num_stacks": 3, "num_modules_per_stack": 3, "batch_size": 256,
        "train_epochs": 108, "train_seconds": 4.0 * 60 * 60, "learning_rate": 0.1,
        "lr_decay_method": "COSINE_BY_STEP", "momentum": 0.9, "weight_decay": 1e-4, "max_attempts": 5,
        "intermediate_evaluations": ["0.5"], "num_repeats": 3,
        "use_tpu": True, "tpu_iterations_per_loop": 100, "tpu_num_shards": 2,
    }


class OutOfDomainError(Exception):
    """The requested graph or epoch count is outside the NAS-Bench-101 search domain."""


# --- ModelSpec --------------------------------------------------------------------------------

def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def graph_fingerprint(matrix: np.ndarray, labels: list) -> str:
    """nasbench's graph hash for any matrix the original accepts.

    A 0/1 integer matrix (every cell of the release) goes to the project's `hash_module`. Anything
    else (a float matrix, entries other than 0 and 1) is hashed as the original does it: degrees
    are numpy sums, so a float matrix starts from texts like "(1.0, 0.0, -1)" and gets a hash that
    is not in the dataset, as with the original.
    """
    n = matrix.shape[0]
    if matrix.dtype.kind in "biu" and n <= 32 and not np.any((matrix != 0) & (matrix != 1)):
        return hash_module(matrix.tolist(), labels)
    out_deg = np.sum(matrix, axis=1).tolist()
    in_deg = np.sum(matrix, axis=0).tolist()
    sources = [[w for w in range(n) if matrix[w, v]] for v in range(n)]
    targets = [[w for w in range(n) if matrix[v, w]] for v in range(n)]
    state = [_md5(str((out_deg[v], in_deg[v], labels[v]))) for v in range(n)]
    for _ in range(n):
        state = [_md5("|".join(("".join(sorted(state[w] for w in sources[v])),
                                "".join(sorted(state[w] for w in targets[v])), state[v])))
                 for v in range(n)]
    return _md5(str(sorted(state)))


class ModelSpec:
    """A cell: V x V upper-triangular adjacency matrix and V op labels, pruned on construction.

    `original_matrix` / `original_ops` are copies of the input (the matrix as an ndarray);
    `matrix` / `ops` keep only the vertices on some input -> output path, in their order. When the
    input does not reach the output, `valid_spec` is False and `matrix` and `ops` are None. Ops of
    pruned vertices are never checked. Raises ValueError for a matrix that is not square, ops of
    another length, or an entry on or below the diagonal.
    """

    def __init__(self, matrix, ops, data_format="channels_last"):
        if not isinstance(matrix, np.ndarray):
            matrix = np.array(matrix)
        shape = np.shape(matrix)
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError("matrix must be square")
        if shape[0] != len(ops):
            raise ValueError("length of ops must match matrix dimensions")
        if np.any(np.tril(matrix) != 0):
            raise ValueError("matrix must be upper triangular")
        self.original_matrix = copy.deepcopy(matrix)
        self.original_ops = copy.deepcopy(ops)
        self.matrix = copy.deepcopy(matrix)
        self.ops = copy.deepcopy(ops)
        self.valid_spec = True
        self._prune()
        self.data_format = data_format

    def _prune(self) -> None:
        n = np.shape(self.original_matrix)[0]
        edges = self.original_matrix != 0
        keep = np.zeros(n, dtype=bool)
        if n:
            from_input = np.zeros(n, dtype=bool)
            from_input[0] = True
            for v in range(n):  # edges only go forward, so one pass in vertex order reaches everything
                if from_input[v]:
                    from_input |= edges[v]
            to_output = np.zeros(n, dtype=bool)
            to_output[n - 1] = True
            for v in range(n - 1, -1, -1):
                if to_output[v]:
                    to_output |= edges[:, v]
            keep = from_input & to_output
        if keep.sum() < 2:  # input and output are not connected
            self.matrix = None
            self.ops = None
            self.valid_spec = False
            return
        kept = np.flatnonzero(keep)
        self.matrix = self.matrix[np.ix_(kept, kept)]
        if len(kept) < n:
            self.ops = [op for op, k in zip(self.ops, keep) if k]

    def hash_spec(self, canonical_ops) -> str:
        """The isomorphism-invariant md5 of the pruned cell; interior ops are labelled by their
        position in `canonical_ops` (ValueError for an op not in it)."""
        labels = [-1] + [canonical_ops.index(op) for op in self.ops[1:-1]] + [-2]
        return graph_fingerprint(self.matrix, labels)

    def visualize(self):
        """A graphviz Digraph of the pruned cell (needs the optional `graphviz` package)."""
        import graphviz

        n = np.shape(self.matrix)[0]
        dot = graphviz.Digraph()
        for v in range(n):
            dot.node(str(v), INPUT if v == 0 else OUTPUT if v == n - 1 else self.ops[v])
        for src, dst in zip(*np.nonzero(np.triu(self.matrix, 1))):
            dot.edge(str(src), str(dst))
        return dot


# --- the store ---------------------------------------------------------------------------------

_PAGE = 4096  # hashes per page when iterating

_RUNS_SQL = """
SELECT c.num_epochs, c.arch, t.parameters, t.id, i.current_epoch,
       i.training_time, i.train_acc, i.valid_acc, i.test_acc
FROM nb101trialconfig c
JOIN nb101trialstats t ON t.config_id = c.id
JOIN nb101intermediatestats i ON i.trial_id = t.id
WHERE c.hash = ?{epochs}
ORDER BY c.id, t.id, i.current_epoch
"""
_ALL_RUNS_SQL = _RUNS_SQL.format(epochs="")
_EPOCH_RUNS_SQL = _RUNS_SQL.format(epochs=" AND c.num_epochs = ?")


class _Store:
    """The store's NB101 tables, read-only, through one SQLite connection per process (reopened
    after a fork, and by a pickled copy) shared by threads under a lock."""

    def __init__(self, db_path):
        self.path = db_path
        self._lock = threading.Lock()
        self._pid = None
        self._conn = None
        self._count = None
        self.rows("SELECT 1", ())  # open now: a damaged or foreign file fails at construction

    def __reduce__(self):  # pickled (to a worker process) as its path: the copy opens its own connection
        return type(self), (self.path,)

    def _connection(self) -> sqlite3.Connection:
        conn = connect_readonly(self.path, check_same_thread=False)
        check_tables(conn, self.path, TABLES)
        return conn

    def rows(self, sql: str, params: tuple) -> list[tuple]:
        if self._pid != os.getpid():  # first use, or a forked child: the parent's lock and connection stay theirs
            self._lock = threading.Lock()
            self._conn, self._pid = self._connection(), os.getpid()
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def epochs(self) -> list[int]:
        """The distinct epoch budgets, ascending: one index seek each, not a scan of every config."""
        found = []
        while True:
            (e,), = self.rows("SELECT MIN(num_epochs) FROM nb101trialconfig WHERE num_epochs > ?",
                              (found[-1] if found else -1,))
            if e is None:
                return found
            found.append(e)

    def has(self, module_hash) -> bool:
        if not isinstance(module_hash, str):
            return False
        return bool(self.rows("SELECT 1 FROM nb101trialconfig WHERE hash = ? LIMIT 1", (module_hash,)))

    def count(self) -> int:
        if self._count is None:
            (self._count,), = self.rows("SELECT COUNT(DISTINCT hash) FROM nb101trialconfig", ())
        return self._count

    def hashes(self) -> Iterator[str]:
        """Every hash, ascending, a page at a time (no statement stays open between pages)."""
        last = ""
        while True:
            page = self.rows("SELECT DISTINCT hash FROM nb101trialconfig WHERE hash > ? ORDER BY hash LIMIT ?",
                             (last, _PAGE))
            for (h,) in page:
                yield h
            if len(page) < _PAGE:
                return
            last = page[-1][0]

    def first_run(self, module_hash) -> list[tuple]:
        """The (epochs, arch, parameters) of a hash's first run, as `runs` starts its rows."""
        if not isinstance(module_hash, str):
            return []
        return self.rows("SELECT c.num_epochs, c.arch, t.parameters FROM nb101trialconfig c JOIN nb101trialstats t "
                         "ON t.config_id = c.id WHERE c.hash = ? ORDER BY c.id, t.id LIMIT 1", (module_hash,))

    def runs(self, module_hash, epochs=None) -> list[tuple]:
        if not isinstance(module_hash, str):
            return []
        if epochs is None:
            return self.rows(_ALL_RUNS_SQL, (module_hash,))
        return self.rows(_EPOCH_RUNS_SQL, (module_hash, epochs))


def _fixed(rows: list[tuple]) -> dict:
    """fixed_statistics' dict from a hash's rows: the stored cell and the parameter count."""
    _, arch, parameters = rows[0][:3]
    matrix, ops = arch_to_spec(json.loads(arch))
    return {"module_adjacency": np.array(matrix, dtype=np.int8), "module_operations": ops,
            "trainable_parameters": round(parameters * 1e6)}


def _computed(module_hash: str, rows: list[tuple], path) -> dict:
    """computed_statistics' dict from a hash's rows: epochs -> repeats in file order -> 8 values.

    Each run has two intermediate rows, halfway (epochs // 2) then final (epochs), ordered by
    current_epoch; accuracies go back from percent to fractions."""
    out: dict = {}
    for k in range(0, len(rows), 2):
        half, final = rows[k], rows[k + 1] if k + 1 < len(rows) else None
        epochs = half[0]
        if final is None or final[3] != half[3] or (half[4], final[4]) != (epochs // 2, epochs):
            raise DamagedStoreError(f"{path}: run {half[3]} of cell {module_hash} does not have exactly a halfway "
                                    f"and a final evaluation; run `nasbench-store verify`")
        out.setdefault(epochs, []).append(dict(zip(STAT_KEYS, (
            half[5], half[6] / 100, half[7] / 100, half[8] / 100,
            final[5], final[6] / 100, final[7] / 100, final[8] / 100))))
    return out


class _StatisticsView(Mapping):
    """Read-only mapping hash -> statistics, looked up in the store per access."""

    def __init__(self, store: _Store):
        self._store = store

    def __iter__(self) -> Iterator[str]:
        return self._store.hashes()

    def __len__(self) -> int:
        return self._store.count()

    def __contains__(self, module_hash) -> bool:
        return self._store.has(module_hash)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._store.path}>"


class FixedStatistics(_StatisticsView):
    """hash -> {'module_adjacency', 'module_operations', 'trainable_parameters'}."""

    def __getitem__(self, module_hash) -> dict:
        rows = self._store.first_run(module_hash)
        if not rows:
            raise KeyError(module_hash)
        return _fixed(rows)


class ComputedStatistics(_StatisticsView):
    """hash -> {epochs: [repeat dicts of the eight halfway_* / final_* values]}."""

    def __getitem__(self, module_hash) -> dict:
        rows = self._store.runs(module_hash)
        if not rows:
            raise KeyError(module_hash)
        return _computed(module_hash, rows, self._store.path)


class NASBench:
    """NAS-Bench-101 queries with the original API, from a store.

    dataset_file: a store directory, its nasbench101.db, None (the default store:
    `$NASBENCHMARK_DIR`, else `~/.cache/nasbench-store`), or the raw `.tfrecord` a store was built
    from (found by the sha256 in the store's manifest; StoreNotFoundError names the build that
    makes one if there is none). seed: passed to `random.seed` as the original does.
    """

    def __init__(self, dataset_file=None, seed=None):
        self.config = build_config()
        random.seed(seed)
        start = time.time()
        self.dataset_file = locate_store(BENCHMARK, dataset_file)
        print(f"Loading dataset from file... (nasbench-store: {self.dataset_file}, read on demand)")
        self._store = _Store(self.dataset_file)
        self.fixed_statistics = FixedStatistics(self._store)
        self.computed_statistics = ComputedStatistics(self._store)
        self.valid_epochs = set()
        for epochs in self._store.epochs():
            self.valid_epochs.add(epochs)
        print(f"Loaded dataset in {int(time.time() - start)} seconds")
        self.history = {}
        self.training_time_spent = 0.0
        self.total_epochs_spent = 0

    def query(self, model_spec, epochs=108, stop_halfway=False):
        """One of the `num_repeats` runs of the cell at `epochs`, chosen at random; adds its
        training time and epochs (half of them with `stop_halfway`) to the budget counters."""
        if epochs not in self.valid_epochs:
            raise OutOfDomainError(f"invalid number of epochs, must be one of {self.valid_epochs}")
        self._check_spec(model_spec)
        module_hash = self._hash_spec(model_spec)
        # the stored int equal to `epochs` (108.0 and numpy ints compare equal but do not bind)
        stored_epochs = next(e for e in self.valid_epochs if e == epochs)
        rows = self._store.runs(module_hash, stored_epochs)
        if not rows and not self._store.has(module_hash):
            raise KeyError(module_hash)
        fixed = _fixed(rows) if rows else None
        sampled_index = random.randint(0, self.config["num_repeats"] - 1)
        if not rows:
            raise KeyError(epochs)
        computed = _computed(module_hash, rows, self.dataset_file)[stored_epochs][sampled_index]
        stage = "halfway" if stop_halfway else "final"
        data = {
            "module_adjacency": fixed["module_adjacency"],
            "module_operations": fixed["module_operations"],
            "trainable_parameters": fixed["trainable_parameters"],
            "training_time": computed[f"{stage}_training_time"],
            "train_accuracy": computed[f"{stage}_train_accuracy"],
            "validation_accuracy": computed[f"{stage}_validation_accuracy"],
            "test_accuracy": computed[f"{stage}_test_accuracy"],
        }
        self.training_time_spent += data["training_time"]
        if stop_halfway:
            self.total_epochs_spent += epochs // 2
        else:
            self.total_epochs_spent += epochs
        return data

    def is_valid(self, model_spec):
        """True if the pruned cell is inside the search space; no counters, no random draw."""
        try:
            self._check_spec(model_spec)
        except OutOfDomainError:
            return False
        return True

    def get_budget_counters(self):
        """(training_time_spent in seconds, total_epochs_spent)."""
        return self.training_time_spent, self.total_epochs_spent

    def reset_budget_counters(self):
        self.training_time_spent = 0.0
        self.total_epochs_spent = 0

    def evaluate(self, model_spec, model_dir):
        raise NotImplementedError("NASBench.evaluate trains the model with TensorFlow; nasbench-store only "
                                  "answers queries from the stored results (use google's nasbench to train)")

    def hash_iterator(self):
        """Every cell's hash (a keys view: iterable, with len and in)."""
        return self.fixed_statistics.keys()

    def get_metrics_from_hash(self, module_hash):
        """(fixed_stat, computed_stat) of a hash, every epoch budget and repeat; KeyError if absent.
        No counters change."""
        rows = self._store.runs(module_hash)
        if not rows:
            raise KeyError(module_hash)
        return _fixed(rows), _computed(module_hash, rows, self.dataset_file)

    def get_metrics_from_spec(self, model_spec):
        """`get_metrics_from_hash` of a cell after the domain check (OutOfDomainError)."""
        self._check_spec(model_spec)
        return self.get_metrics_from_hash(self._hash_spec(model_spec))

    def _check_spec(self, model_spec):
        if not model_spec.valid_spec:
            raise OutOfDomainError("invalid spec, provided graph is disconnected.")
        num_vertices = len(model_spec.ops)
        num_edges = np.sum(model_spec.matrix)
        if num_vertices > self.config["module_vertices"]:
            raise OutOfDomainError(f"too many vertices, got {num_vertices} "
                                   f"(max vertices = {self.config['module_vertices']})")
        if num_edges > self.config["max_edges"]:
            raise OutOfDomainError(f"too many edges, got {int(num_edges)} (max edges = {self.config['max_edges']})")
        if model_spec.ops[0] != "input":
            raise OutOfDomainError("first operation should be 'input'")
        if model_spec.ops[-1] != "output":
            raise OutOfDomainError("last operation should be 'output'")
        for op in model_spec.ops[1:-1]:
            if op not in self.config["available_ops"]:
                raise OutOfDomainError(f"unsupported op {op} (available ops = {self.config['available_ops']})")

    def _hash_spec(self, model_spec):
        return model_spec.hash_spec(self.config["available_ops"])
