"""NNI's own NDS code (nni==3.0, in its own venv) as the oracle for conversion and queries.

1. NNI's db_gen.main() converts the extracted fixture archive into a database of its own (its
   load_benchmark, broken since v2.5, is replaced by the database it should return; everything
   else is NNI's unmodified code). Every row of our nds.db must equal NNI's, ids included.
2. NNI's query_nds_trial_stats and peewee models run on our nds.db and agree with our queries.
"""
from __future__ import annotations

import itertools
import json
import sqlite3
import zipfile
from pathlib import Path

import pytest
from helpers.nds import build
from nni_oracle.oracle import key_orders, nni_python, run_in_nni, run_nni, run_ours, sha256, without_our_extras

from nasbench_store.nds import query_nds_trial_stats
from nasbench_store.nds.synthetic import write_nds_zip

TABLES = ("ndstrialconfig", "ndstrialstats", "ndsintermediatestats")
DB_GEN = """
import sys
from run_nni_query import load_nni_benchmark
from playhouse.sqlite_ext import SqliteExtDatabase
nds = load_nni_benchmark("nds")
from nni.nas.benchmark.nds import db_gen
db = SqliteExtDatabase(sys.argv[2], autoconnect=True)
nds.schema.proxy.initialize(db)
db_gen.load_benchmark = lambda name: db
sys.argv = ["db_gen", sys.argv[1]]
db_gen.main()
"""


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """(our store dir, NNI's database) converted from one fixture archive."""
    nni_python()  # skip before building the store
    tmp = tmp_path_factory.mktemp("nds-oracle")
    archive = write_nds_zip(tmp / "data.zip", records_per_file=6, max_ep=4, seed=11)
    ours, _ = build(tmp, archive)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp / "extracted")
    nni_db = tmp / "nni.db"
    proc = run_in_nni(["-c", DB_GEN, str(tmp / "extracted" / "nds_data"), str(nni_db)])
    assert proc.returncode == 0, proc.stderr[-4000:]
    return ours, nni_db


def table_rows(db: Path, table: str) -> list[tuple]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(f'SELECT * FROM "{table}" ORDER BY id').fetchall()


@pytest.mark.parametrize("table", TABLES)
def test_every_row_equals_nni_db_gen(stores, table):
    ours, nni_db = stores
    mine, theirs = table_rows(ours / "nds.db", table), table_rows(nni_db, table)
    assert len(mine) == len(theirs) > 0
    diffs = [(a, b) for a, b in zip(mine, theirs) if a != b]
    assert not diffs, f"{len(diffs)} rows differ; first: {diffs[:2]}"


def test_the_fixture_exercises_dedup_and_nulls(stores):
    ours, _ = stores
    with sqlite3.connect(ours / "nds.db") as conn:
        configs, trials = (conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES[:2])
        null_best, null_final = conn.execute("SELECT SUM(best_train_loss IS NULL), SUM(final_train_loss IS NULL) "
                                             "FROM ndstrialstats").fetchone()
    assert trials == 34 * 6 and configs < trials - 20
    assert null_best > 0 and null_final > null_best


FAMILIES = [None, "nas_cell", "residual_bottleneck", "residual_basic", "vanilla"]
PROPOSERS = [None, "darts", "resnet", "vanilla"]
DATASETS = [None, "imagenet"]
CALLS = [dict(model_family=f, proposer=p, generator=None, model_spec=None, cell_spec=None, dataset=d,
              reduction=r, include_intermediates=i)
         for f, p, d, r, i in itertools.product(FAMILIES, PROPOSERS, DATASETS, [None, "mean"], [False, True])]
CALLS += [dict(model_family=None, proposer=None, generator=g, model_spec=None, cell_spec=None, dataset=None,
               num_epochs=e) for g in ("random", "fix_w_d", "tune_lr_wd") for e in (None, 4, 100)]


def spec_calls(store: Path) -> list[dict]:
    """Filters on JSON columns, with specs taken from the store (keys shuffled: order must not matter)."""
    with sqlite3.connect(store / "nds.db") as conn:
        specs = conn.execute("SELECT model_spec, cell_spec FROM ndstrialconfig WHERE id IN (1, 2, 120)").fetchall()
    calls = []
    for model_spec, cell_spec in specs:
        model, cell = json.loads(model_spec), json.loads(cell_spec)
        shuffled = dict(reversed(list(model.items())))
        calls += [dict(model_family=None, proposer=None, generator=None, model_spec=shuffled, cell_spec=None,
                       dataset=None, reduction="mean"),
                  dict(model_family=None, proposer=None, generator=None, model_spec=None, cell_spec=cell,
                       dataset=None, include_intermediates=True)]
    return calls


@pytest.fixture(scope="module")
def queries(stores):
    ours, _ = stores
    calls = CALLS + spec_calls(ours) + [dict(model_family=None, proposer=None, generator=None, model_spec=None,
                                             cell_spec=None, dataset=None, reduction="max")]
    before = sha256(ours / "nds.db")
    nni = run_nni(ours, "nds", calls, [{"op": "count"}, {"op": "schema"}])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NASBENCHMARK_DIR", str(ours))
        mine = [run_ours(query_nds_trial_stats, c) for c in calls]
    assert sha256(ours / "nds.db") == before
    return calls, nni, mine


def by_id(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: (r["config"]["id"], r["id"] or 0))


def test_every_query_equals_nni(queries):
    """Same rows, values and key order. Order: NNI has no ORDER BY and SQLite walks an index on the
    filtered column, so NNI's order varies with the filter; ours is always id order."""
    calls, nni, mine = queries
    mismatches = []
    for call, theirs, ours in zip(calls[:-1], nni["calls"], mine):
        if call.get("reduction") == "mean" and "rows" in ours:
            ours = {"rows": without_our_extras(ours["rows"])}
        if "rows" in theirs and "rows" in ours:
            theirs, ours = {"rows": by_id(theirs["rows"])}, {"rows": by_id(ours["rows"])}
            if key_orders(theirs["rows"]) != key_orders(ours["rows"]):
                mismatches.append((call, "key order"))
        if theirs != ours:
            mismatches.append((call, str(theirs)[:300], str(ours)[:300]))
    assert not mismatches, f"{len(mismatches)} of {len(calls)} calls differ; first: {mismatches[:2]}"
    assert sum(len(r.get("rows", [])) for r in nni["calls"]) > 2000
    # deliberate difference: NNI's bare ValueError, our QueryError (a ValueError) listing the valid reductions
    assert nni["calls"][-1] == {"error": "ValueError", "message": "Unsupported reduction: 'max'"}
    assert mine[-1]["error"] == "QueryError" and mine[-1]["message"].startswith("Unsupported reduction: 'max'; valid")


def test_nni_models_see_our_schema(queries, stores):
    _, nni, _ = queries
    ours, _ = stores
    counts, schema = nni["probes"]
    assert counts == {"NdsTrialConfig": len(table_rows(ours / "nds.db", "ndstrialconfig")),
                      "NdsTrialStats": 34 * 6, "NdsIntermediateStats": 34 * 6 * 4}
    assert schema["store"] == schema["nni"]


def test_invalid_labels_nni_finds_nothing_we_say_why(stores):
    ours, _ = stores
    call = dict(model_family="resnet", proposer=None, generator=None, model_spec=None, cell_spec=None, dataset=None)
    assert run_nni(ours, "nds", [call])["calls"] == [{"rows": []}]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NASBENCHMARK_DIR", str(ours))
        assert run_ours(query_nds_trial_stats, call)["error"] == "QueryError"
