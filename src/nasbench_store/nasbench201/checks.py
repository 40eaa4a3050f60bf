"""NAS-Bench-201 store invariants for `verify`: NNI's config grid, labels, value ranges, and the
final metrics recomputed from the per-epoch rows (the same data, stored twice, must agree)."""
from __future__ import annotations

from pathlib import Path

from ..checks_common import sql_list, table_checks
from .constants import DATASETS, EDGES, EPOCHS, PRIMITIVES

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
    "intermediate epochs in 1..num_epochs, once each": "SELECT COUNT(*) FROM (SELECT i.trial_id FROM "
        "nb201intermediatestats i JOIN nb201trialstats s ON i.trial_id = s.id JOIN nb201trialconfig c "
        "ON s.config_id = c.id GROUP BY i.trial_id HAVING MIN(i.current_epoch) < 1 "
        "OR MAX(i.current_epoch) > MAX(c.num_epochs) OR COUNT(DISTINCT i.current_epoch) != COUNT(*))",
    f"final metrics = the last epoch's (epochs {sql_list(EPOCHS)})": "SELECT COUNT(*) FROM nb201trialstats s "
        "JOIN nb201trialconfig c ON s.config_id = c.id JOIN nb201intermediatestats i ON i.trial_id = s.id "
        "AND i.current_epoch = c.num_epochs WHERE NOT (i.train_acc IS s.train_acc AND i.valid_acc IS s.valid_acc "
        "AND i.test_acc IS s.test_acc AND i.ori_test_acc IS s.ori_test_acc AND i.train_loss IS s.train_loss "
        "AND i.valid_loss IS s.valid_loss AND i.test_loss IS s.test_loss AND i.ori_test_loss IS s.ori_test_loss)",
}


def check(db_path: Path, parquet_dir: Path) -> list[str]:
    return table_checks(db_path, parquet_dir, "nasbench201", RULES)
