"""NAS-Bench-201 store invariants for `verify`: NNI's config grid, labels, value ranges, and the
final metrics recomputed from the per-epoch rows (the same data, stored twice, must agree); the
extra tables agree with NNI's (one detail row per run, arch strings = the configs' archs, epoch
spans covering every epoch once, times and key flags where NNI's columns came from)."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..checks_common import sql_list, table_checks
from ..parts import row_groups
from .constants import DATASETS, EDGES, EPOCHS, PRIMITIVES, SPLITS
from .space import parse_arch_str

# 9e999 is SQLite's infinity, which a REAL column can hold (a NaN is stored as NULL)
_SIZES_AND_TIMES = [("parameters", "> 0"), ("flops", "> 0")] + [(c, ">= 0") for c in (
    "latency", "training_time", "valid_evaluation_time", "test_evaluation_time", "ori_test_evaluation_time")]
_LOSSES = ("train_loss", "valid_loss", "test_loss", "ori_test_loss")


def _finite_or_null(columns) -> str:
    return " AND ".join(f"({c} IS NULL OR ABS({c}) < 9e999)" for c in columns)


_OPS_OK = " AND ".join(f"json_extract(arch, '$.\"{e}\"') IN {sql_list(PRIMITIVES)}" for e in EDGES)
RULES = {
    "configs are NNI's grid (meta arch x [12, 200] x datasets, ids from 1)": "SELECT COUNT(*) FROM nb201trialconfig "
        "WHERE num_epochs != (CASE WHEN (id - 1) % 8 < 4 THEN 12 ELSE 200 END) OR dataset != (CASE (id - 1) % 4 "
        + " ".join(f"WHEN {i} THEN '{d}'" for i, d in enumerate(DATASETS)) + " END) OR num_channels != 16 "
        "OR num_cells != 5 OR (SELECT MAX(id) FROM nb201trialconfig) != (SELECT COUNT(*) FROM nb201trialconfig) "
        "OR (SELECT COUNT(*) FROM nb201trialconfig) % 8 != 0",
    "the 8 configs of a meta arch share its arch": "SELECT COUNT(*) FROM nb201trialconfig c JOIN nb201trialconfig f "
        "ON f.id = c.id - (c.id - 1) % 8 WHERE c.arch != f.arch",
    "archs are distinct and use NAS-Bench-201's edges and operators": "SELECT COUNT(*) FROM nb201trialconfig WHERE "
        f"(id - 1) % 8 = 0 AND NOT ({_OPS_OK} AND (SELECT COUNT(*) FROM json_each(arch)) = 6) "
        "OR (SELECT COUNT(DISTINCT arch) FROM nb201trialconfig) * 8 != (SELECT COUNT(*) FROM nb201trialconfig)",
    "one trial per config and seed": "SELECT COUNT(*) FROM (SELECT 1 FROM nb201trialstats GROUP BY config_id, seed "
        "HAVING COUNT(*) > 1) ",
    "trials belong to configs": "SELECT COUNT(*) FROM nb201trialstats s LEFT JOIN nb201trialconfig c "
        "ON s.config_id = c.id WHERE c.id IS NULL",
    "accuracies in [0, 100], sizes > 0 and times >= 0, all finite": "SELECT COUNT(*) FROM nb201trialstats WHERE NOT ("
        "train_acc BETWEEN 0 AND 100 AND valid_acc BETWEEN 0 AND 100 AND test_acc BETWEEN 0 AND 100 "
        "AND ori_test_acc BETWEEN 0 AND 100 AND "
        + " AND ".join(f"{c} {low} AND {c} < 9e999" for c, low in _SIZES_AND_TIMES) + ")",
    "losses finite or NULL": "SELECT COUNT(*) FROM nb201trialstats WHERE NOT (" + _finite_or_null(_LOSSES) + ")",
    "per-epoch metrics finite or NULL": "SELECT COUNT(*) FROM nb201intermediatestats WHERE NOT ("
        + _finite_or_null(("train_acc", "valid_acc", "test_acc", "ori_test_acc", *_LOSSES)) + ")",
    # each trial's epochs aggregated first, then one join per trial (not per row: 8.3 -> 6.4 s at full scale)
    "intermediate epochs in 1..num_epochs, once each": "SELECT COUNT(*) FROM (SELECT trial_id, "
        "MIN(current_epoch) AS first, MAX(current_epoch) AS last, COUNT(DISTINCT current_epoch) AS epochs, "
        "COUNT(*) AS n FROM nb201intermediatestats GROUP BY trial_id) i JOIN nb201trialstats s "
        "ON i.trial_id = s.id JOIN nb201trialconfig c ON s.config_id = c.id "
        "WHERE i.first < 1 OR i.last > c.num_epochs OR i.epochs != i.n",
    f"final metrics = the last epoch's (epochs {sql_list(EPOCHS)})": "SELECT COUNT(*) FROM nb201trialstats s "
        "JOIN nb201trialconfig c ON s.config_id = c.id JOIN nb201intermediatestats i ON i.trial_id = s.id "
        "AND i.current_epoch = c.num_epochs WHERE NOT (i.train_acc IS s.train_acc AND i.valid_acc IS s.valid_acc "
        "AND i.test_acc IS s.test_acc AND i.ori_test_acc IS s.ori_test_acc AND i.train_loss IS s.train_loss "
        "AND i.valid_loss IS s.valid_loss AND i.test_loss IS s.test_loss AND i.ori_test_loss IS s.ori_test_loss)",
}



_EVAL_COLUMNS = ("valid", "test", "ori_test")  # NNI's columns from evaluation splits, in SPLITS[dataset]'s order


def _flag(split: str, metric: str) -> str:
    """The epoch-span column saying whether the release holds `metric` of `split` over the span."""
    return f"has_{split.replace('-', '_')}_{metric}"


def _by_dataset(position: int, column) -> str:
    """SQL choosing, by c.dataset, `column(split)` for the split NNI's column `position` (0 valid,
    1 test, 2 ori_test) comes from."""
    return "(CASE c.dataset " + " ".join(f"WHEN '{d}' THEN {column(SPLITS[d][position])}" for d in DATASETS) + " END)"


_TIME = {s: f"sp.{s.replace('-', '_')}_time" for s in ("x-valid", "x-test", "ori-test")}
_NNI_FLAGS = ([("train_acc", "sp.has_train_acc"), ("train_loss", "sp.has_train_loss")]
              + [(f"{col}_{m}", _by_dataset(i, lambda s, m=m: f"sp.{_flag(s, m)}"))
                 for i, col in enumerate(_EVAL_COLUMNS) for m in ("acc", "loss")])
_NNI_COLUMNS = [column for column, _ in _NNI_FLAGS]
_SPAN_JOIN = ("nb201epochspan sp JOIN nb201trialstats s ON s.id = sp.trial_id "
              "JOIN nb201trialconfig c ON c.id = s.config_id")
_UNMAPPED = {d: [s for s in ("x-valid", "x-test", "ori-test") if s not in SPLITS[d]] for d in DATASETS}
EXTRA_RULES = {
    "one nb201trialinfo row per run, with its architecture's index": "SELECT (SELECT COUNT(*) FROM nb201trialinfo) "
        "+ (SELECT COUNT(*) FROM nb201trialstats) - 2 * (SELECT COUNT(*) FROM nb201trialstats s JOIN nb201trialinfo i "
        "ON i.trial_id = s.id AND i.arch_index = (s.config_id - 1) / 8)",
    "run details: latency >= 0 and finite, sizes > 0, eval_names of x-valid, x-test, ori-test": "SELECT COUNT(*) "
        "FROM nb201trialinfo WHERE NOT (latency_mean >= 0 AND latency_mean < 9e999 AND channels > 0 AND num_cells > 0 "
        "AND num_classes > 0 AND TRIM(REPLACE(REPLACE(REPLACE(eval_names, 'x-valid', ''), 'x-test', ''), 'ori-test', "
        "''), ',') = '')",
    "one arch string per meta arch, indexes from 0": "SELECT (SELECT COUNT(*) FROM nb201arch) * 8 != "
        "(SELECT COUNT(*) FROM nb201trialconfig) OR (SELECT COALESCE(MAX(arch_index), -1) + 1 FROM nb201arch) != "
        "(SELECT COUNT(*) FROM nb201arch) OR (SELECT MIN(arch_index) FROM nb201arch) != 0",
    "a run's epoch spans cover 1..num_epochs once, in order": "SELECT COUNT(*) FROM nb201epochspan p "
        "LEFT JOIN nb201epochspan n ON n.id = p.id + 1 AND n.trial_id = p.trial_id WHERE p.from_epoch > p.to_epoch "
        "OR (n.id IS NOT NULL AND n.from_epoch != p.to_epoch + 1)",
    "first and last spans: epoch 1 and num_epochs, every run has them": "SELECT (SELECT COUNT(*) FROM nb201trialstats) "
        "- (SELECT COUNT(*) FROM (SELECT 1 FROM " + _SPAN_JOIN + " GROUP BY sp.trial_id "
        "HAVING MIN(sp.from_epoch) = 1 AND MAX(sp.to_epoch) = MAX(c.num_epochs)))",
    "span times finite >= 0 or NULL, flags 0 or 1": "SELECT COUNT(*) FROM nb201epochspan WHERE NOT ("
        + " AND ".join(f"({c} IS NULL OR ({c} >= 0 AND {c} < 9e999))"
                       for c in ("train_time", "x_valid_time", "x_test_time", "ori_test_time")) + " AND "
        + " AND ".join(f"has_{s}_{m} IN (0, 1)" for s in ("train", "x_valid", "x_test", "ori_test")
                       for m in ("acc", "loss")) + ")",
    "no metrics for splits NNI's mapping has no column for": "SELECT COUNT(*) FROM " + _SPAN_JOIN + " WHERE "
        + " OR ".join(f"(c.dataset = '{d}' AND ("
                      + " OR ".join(f"sp.{_flag(s, m)}" for s in splits for m in ("acc", "loss")) + "))"
                      for d, splits in _UNMAPPED.items() if splits),
    "NNI's final values and times come from the last span": "SELECT COUNT(*) FROM " + _SPAN_JOIN + " WHERE "
        "sp.to_epoch = c.num_epochs AND NOT (" + " AND ".join(flag for _, flag in _NNI_FLAGS) + " AND "
        "s.training_time IS sp.train_time * c.num_epochs AND "
        + " AND ".join(f"s.{col}_evaluation_time IS {_by_dataset(i, _TIME.get)}"
                       for i, col in enumerate(_EVAL_COLUMNS)) + ")",
    "an intermediate row for every epoch with a key": "SELECT (SELECT COUNT(*) FROM nb201intermediatestats) - "
        "(SELECT TOTAL(sp.to_epoch - sp.from_epoch + 1) FROM " + _SPAN_JOIN + " WHERE "
        + " OR ".join(flag for _, flag in _NNI_FLAGS) + ")",
}


def _archs_match_configs(conn: sqlite3.Connection) -> list[str]:
    bad = []
    for index, arch_str, arch in conn.execute("SELECT a.arch_index, a.arch_str, c.arch FROM nb201arch a "
                                              "JOIN nb201trialconfig c ON c.id = 8 * a.arch_index + 1"):
        try:
            same = parse_arch_str(arch_str) == json.loads(arch)
        except ValueError:
            same = False
        if not same:
            bad.append(index)
    if not bad:
        return []
    return [f"{len(bad)} rows violate: nb201arch strings are the configs' archs (arch indexes {bad[:5]})"]


_EPOCH_BITS = 20  # an intermediate's or span's epoch within its run, clipped: 200 at most in a valid store


def _flag_column(nni_column: str, dataset: str) -> str:
    """The epoch-span flag saying whether the release holds the key NNI's column `nni_column` comes from."""
    col, metric = nni_column.rsplit("_", 1)
    return _flag("train" if col == "train" else SPLITS[dataset][_EVAL_COLUMNS.index(col)], metric)


def _by_key(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keys, values) sorted by key, as `_lookup` takes them (sorted once, looked up many times)."""
    order = np.argsort(keys, kind="stable")
    return keys[order], values[order]


def _lookup(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray, missing) -> np.ndarray:
    """values[keys == wanted] for each wanted key (keys sorted and unique), `missing` where there is none."""
    if not len(keys):
        return np.full(len(wanted), missing)
    at = np.clip(np.searchsorted(keys, wanted), 0, len(keys) - 1)
    return np.where(keys[at] == wanted, values[at], missing)


def values_only_where_keys(parquet_dir: Path) -> list[str]:
    """Rule "NNI's per-epoch values only where the release has the key", in linear time.

    As a SQL join of each per-epoch row to the span holding its epoch it was quadratic in a run's
    epochs (one span per epoch where a file's times vary: hours at full scale). Here each row finds
    its span by binary search over (trial, from_epoch), on the Parquet twin of the tables (which
    `parquet_matches_sqlite` ties to the database), a batch of rows at a time.
    """
    def table(name, columns):
        return pq.read_table(Path(parquet_dir) / f"{name}.parquet", columns=columns)

    configs = table("nb201trialconfig", ["id", "dataset"])
    trials = table("nb201trialstats", ["id", "config_id"])
    dataset_code = pc.index_in(configs.column("dataset"), value_set=pa.array(DATASETS)).fill_null(-1).to_numpy()
    config_dataset = _by_key(configs.column("id").to_numpy(), dataset_code)
    trial_dataset = _by_key(trials.column("id").to_numpy(),
                            _lookup(*config_dataset, trials.column("config_id").to_numpy(), -1))
    # Per span 13 bytes, read a batch at a time (a file whose per-epoch times vary has a span per
    # epoch: tens of millions): its (trial, from_epoch) key, to_epoch, and one bit per NNI column
    # saying whether the release holds that column's key over the span.
    spans = Path(parquet_dir) / "nb201epochspan.parquet"
    n = pq.ParquetFile(spans).metadata.num_rows
    if not n:
        return []  # no spans: no row has one to break (another rule requires them)
    key, to_epoch, allowed = np.empty(n, np.int64), np.empty(n, np.int32), np.zeros(n, np.uint8)
    flags = sorted({_flag_column(c, d) for c in _NNI_COLUMNS for d in DATASETS})
    done = 0
    for batch in row_groups(spans, ["trial_id", "from_epoch", "to_epoch", *flags]):
        rows = slice(done, done + batch.num_rows)
        trial = batch.column("trial_id").to_numpy()
        key[rows] = (trial << _EPOCH_BITS) | np.clip(batch.column("from_epoch").to_numpy(), 0, (1 << _EPOCH_BITS) - 1)
        to_epoch[rows] = np.clip(batch.column("to_epoch").to_numpy(), -1, 1 << 30)
        dataset = _lookup(*trial_dataset, trial, -1)
        for bit, nni_column in enumerate(_NNI_COLUMNS):
            for code, name in enumerate(DATASETS):
                flag = batch.column(_flag_column(nni_column, name)).to_numpy() == 1
                allowed[rows] |= ((dataset == code) & flag).astype(np.uint8) << bit
        done += batch.num_rows
    if np.any(key[1:] < key[:-1]):  # the converter writes spans in this order; any other store is sorted here
        order = np.argsort(key, kind="stable")
        key, allowed, to_epoch = key[order], allowed[order], to_epoch[order]
        del order
    bad = 0
    per_epoch = Path(parquet_dir) / "nb201intermediatestats.parquet"
    for batch in row_groups(per_epoch, ["trial_id", "current_epoch", *_NNI_COLUMNS]):
        trial = batch.column("trial_id").to_numpy()
        epoch = batch.column("current_epoch").to_numpy()
        wanted = (trial << _EPOCH_BITS) | np.clip(epoch, 0, (1 << _EPOCH_BITS) - 1)
        at = np.searchsorted(key, wanted, side="right") - 1  # the last span starting at or before the epoch
        inside = at >= 0
        at = np.maximum(at, 0)
        inside &= ((key[at] >> _EPOCH_BITS) == trial) & (to_epoch[at] >= epoch)
        for bit, nni_column in enumerate(_NNI_COLUMNS):
            has_value = batch.column(nni_column).is_valid().to_numpy(zero_copy_only=False)
            bad += int(np.count_nonzero(inside & has_value & ((allowed[at] >> bit) & 1 == 0)))
    return [f"{bad} rows violate: NNI's per-epoch values only where the release has the key"] if bad else []


def check(db_path: Path, parquet_dir: Path) -> list[str]:
    def extra(conn):
        return _archs_match_configs(conn) + values_only_where_keys(parquet_dir)
    return table_checks(db_path, parquet_dir, "nasbench201", {**RULES, **EXTRA_RULES}, after=extra)
