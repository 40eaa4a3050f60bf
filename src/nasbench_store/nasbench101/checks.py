"""NAS-Bench-101 store invariants: every cell's graph hash recomputed, value ranges, structure."""
from __future__ import annotations

import json
from pathlib import Path

from ..checks_common import table_checks
from .graph import hash_arch

RULES = {
    "num_epochs in (4, 12, 36, 108)": "SELECT COUNT(*) FROM nb101trialconfig WHERE num_epochs NOT IN (4,12,36,108)",
    "num_vertices in 2..7": "SELECT COUNT(*) FROM nb101trialconfig WHERE num_vertices NOT BETWEEN 2 AND 7",
    "every config has trials": "SELECT COUNT(*) FROM nb101trialconfig c WHERE NOT EXISTS "
                               "(SELECT 1 FROM nb101trialstats s WHERE s.config_id = c.id)",
    "trial accuracies in [0, 100]": "SELECT COUNT(*) FROM nb101trialstats WHERE NOT (train_acc BETWEEN 0 AND 100 "
                                    "AND valid_acc BETWEEN 0 AND 100 AND test_acc BETWEEN 0 AND 100)",
    # 9e999 is SQLite's infinity, which a REAL column can hold (a NaN is stored as NULL)
    "parameters > 0 and training_time >= 0, both finite": "SELECT COUNT(*) FROM nb101trialstats WHERE NOT ("
        "parameters > 0 AND parameters < 9e999 AND training_time >= 0 AND training_time < 9e999)",
    "intermediate accuracies in [0, 100], time >= 0 and finite": "SELECT COUNT(*) FROM nb101intermediatestats "
        "WHERE NOT (train_acc BETWEEN 0 AND 100 AND valid_acc BETWEEN 0 AND 100 AND test_acc BETWEEN 0 AND 100 "
        "AND training_time >= 0 AND training_time < 9e999)",
    "two intermediates per trial": "SELECT (SELECT COUNT(*) FROM nb101intermediatestats) - "
                                   "2 * (SELECT COUNT(*) FROM nb101trialstats)",
    "intermediates at epochs//2 and epochs": "SELECT COUNT(*) FROM nb101intermediatestats i "
        "JOIN nb101trialstats s ON i.trial_id = s.id JOIN nb101trialconfig c ON s.config_id = c.id "
        "WHERE i.current_epoch NOT IN (c.num_epochs / 2, c.num_epochs)",
}


def distinct_cells(conn) -> tuple[list[tuple[str, str]], list[str]]:
    """Each stored cell's (arch, hash) once, in table order, and the hashes stored with two different
    archs. A table scan: cheaper than SELECT DISTINCT, which sorts 1.7M long strings."""
    seen: dict[str, str] = {}
    conflicts: dict[str, None] = {}  # a dict, not a list: ordered, and a lookup per row stays O(1)
    for arch, stored in conn.execute("SELECT arch, hash FROM nb101trialconfig"):
        if seen.setdefault(stored, arch) != arch:
            conflicts[stored] = None
    return [(arch, stored) for stored, arch in seen.items()], list(conflicts)


def recompute_hashes(conn) -> list[str]:
    """Every stored cell's hash against the hash of its arch text (one thread: table_checks runs
    it beside the SQL rules and the sums, which leave the GIL free while they scan)."""
    cells, conflicts = distinct_cells(conn)
    bad = [stored for arch, stored in cells if hash_arch(json.loads(arch)) != stored]
    problems = [f"{len(bad)} cells whose stored hash differs from the recomputed one, e.g. {bad[:3]}"] if bad else []
    if conflicts:
        problems.append(f"{len(conflicts)} hashes stored with two different archs, e.g. {conflicts[:3]}")
    return problems


def check(db_path: Path, parquet_dir: Path) -> list[str]:
    return table_checks(db_path, parquet_dir, "nasbench101", RULES, beside=recompute_hashes)
