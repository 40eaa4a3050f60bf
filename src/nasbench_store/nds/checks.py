"""NDS store invariants for `verify`: labels, value ranges, and final/best values recomputed from
the per-epoch rows (the same data, stored twice, must agree)."""
from __future__ import annotations

from pathlib import Path

from ..checks_common import sql_list, table_checks
from .constants import DATASETS, GENERATORS, MODEL_FAMILIES, PROPOSERS

RULES = {
    "labels are NDS's": f"SELECT COUNT(*) FROM ndstrialconfig WHERE model_family NOT IN {sql_list(MODEL_FAMILIES)} "
                        f"OR dataset NOT IN {sql_list(DATASETS)} OR generator NOT IN {sql_list(GENERATORS)} "
                        f"OR proposer NOT IN {sql_list(PROPOSERS)}",
    "specs are JSON objects, cell_spec {} outside nas_cell": "SELECT COUNT(*) FROM ndstrialconfig WHERE NOT ("
        "json_type(model_spec) = 'object' AND json_type(cell_spec) = 'object' "
        "AND (model_family = 'nas_cell') = (cell_spec != '{}'))",
    "configs are unique (NNI's get_or_create)": "SELECT COUNT(*) FROM (SELECT 1 FROM ndstrialconfig GROUP BY "
        "model_family, model_spec, cell_spec, dataset, generator, proposer, base_lr, weight_decay, num_epochs "
        "HAVING COUNT(*) > 1)",
    "every config has trials": "SELECT COUNT(*) FROM ndstrialconfig c WHERE NOT EXISTS "
                               "(SELECT 1 FROM ndstrialstats s WHERE s.config_id = c.id)",
    "base_lr and weight_decay >= 0 and finite": "SELECT COUNT(*) FROM ndstrialconfig WHERE NOT ("
        "base_lr >= 0 AND base_lr < 9e999 AND weight_decay >= 0 AND weight_decay < 9e999)",
    # 9e999 is SQLite's infinity, which a REAL column can hold (a NaN is stored as NULL)
    "accuracies in [0, 100], sizes > 0, all finite, losses finite or NULL": "SELECT COUNT(*) FROM ndstrialstats "
        "WHERE NOT (final_train_acc BETWEEN 0 AND 100 AND final_test_acc BETWEEN 0 AND 100 "
        "AND best_train_acc BETWEEN 0 AND 100 AND best_test_acc BETWEEN 0 AND 100 AND parameters > 0 "
        "AND parameters < 9e999 AND flops > 0 AND flops < 9e999 AND iter_time >= 0 AND iter_time < 9e999 "
        "AND (final_train_loss IS NULL OR ABS(final_train_loss) < 9e999) "
        "AND (best_train_loss IS NULL OR ABS(best_train_loss) < 9e999))",
    "per-epoch accuracies in [0, 100], loss finite or NULL": "SELECT COUNT(*) FROM ndsintermediatestats WHERE NOT ("
        "train_acc BETWEEN 0 AND 100 AND test_acc BETWEEN 0 AND 100 "
        "AND (train_loss IS NULL OR ABS(train_loss) < 9e999))",
    "one intermediate per epoch": "SELECT (SELECT COUNT(*) FROM ndsintermediatestats) - (SELECT SUM(c.num_epochs) "
        "FROM ndstrialstats s JOIN ndstrialconfig c ON s.config_id = c.id)",
    "final values = the last epoch's": "SELECT (SELECT COUNT(*) FROM ndstrialstats) - COUNT(*) FROM ndstrialstats s "
        "JOIN ndstrialconfig c ON s.config_id = c.id JOIN ndsintermediatestats i ON i.trial_id = s.id "
        "AND i.current_epoch = c.num_epochs WHERE i.train_acc = s.final_train_acc AND i.test_acc = s.final_test_acc "
        "AND i.train_loss IS s.final_train_loss",
    "best values = the best epoch's": "SELECT COUNT(*) FROM (SELECT s.best_train_acc, s.best_test_acc, "
        "s.best_train_loss, MAX(i.train_acc) AS tr, MAX(i.test_acc) AS te, MIN(i.train_loss) AS lo, "
        "MIN(i.current_epoch) AS first, MAX(i.current_epoch) AS last, COUNT(*) AS n, "
        "COUNT(DISTINCT i.current_epoch) AS epochs "
        "FROM ndstrialstats s JOIN ndsintermediatestats i ON i.trial_id = s.id GROUP BY s.id) "
        "WHERE NOT (best_train_acc = tr AND best_test_acc = te AND best_train_loss IS lo "
        "AND first = 1 AND last = n AND epochs = n)",
}


def check(db_path: Path, parquet_dir: Path) -> list[str]:
    return table_checks(db_path, parquet_dir, "nds", RULES)
